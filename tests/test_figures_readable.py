"""Every figure the pages show has a title and axes labelled in words (what a screen reader, a projector
at the back of a classroom or a printed handout needs).

The pages run under AppTest on the shipped model (as in ``test_app_pages.py``); every Plotly spec on
them is checked: a title with words, and every visible cartesian axis a trace is drawn on either has a
title with words or names its ticks in words (e.g. "8x8 px", "query"). Pies and trees have no axes and
need only the title. A data table (``furniture.table``, the stand-in for ``st.dataframe``) needs words
in every column header instead, which is what names a table's contents. A figure shown as an image
(``furniture.image``: an SVG document) needs a caption and an alt text in words.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.apptools import caption_text, images, ok, open_page, specs, title

pytestmark = pytest.mark.usefixtures("default_model", "artifacts")

WORDS = re.compile(r"[A-Za-z]{2,}")
NO_AXES = {"pie", "table", "icicle", "sunburst", "treemap", "sankey", "indicator"}
PAGES = {
    "overview": (None, {}),
    "ram (compare)": ("dashboard/pages/ram_hyperparameters.py", {"view": "compare"}),
    "glimpses": ("dashboard/pages/glimpse_paths.py", {"step": "2"}),
    "hardware": ("dashboard/pages/sram_energy.py", {}),
    "table": ("dashboard/pages/table_size.py", {"images": "100"}),
    "tree": ("dashboard/pages/cluster_tree.py", {"images": "100"}),
    "mixed": ("dashboard/pages/mixed_mbi.py", {"images": "100"}),
}
LOOKUP = {"table", "tree", "mixed"}


def _text(value) -> str:
    if isinstance(value, dict):
        return str(value.get("text", ""))
    return "" if value is None else str(value)


def problems(spec: dict) -> list[str]:
    """What makes one figure unreadable (empty when it is fine)."""
    layout = spec.get("layout", {})
    data = spec.get("data", [])
    if data and all(t.get("type") == "table" for t in data):
        headers = [str(h) for t in data for h in t.get("header", {}).get("values", [])]
        return [] if headers and all(WORDS.search(h) for h in headers) else ["a table column without a name"]
    out = [] if WORDS.search(title(spec)) else ["no title in words"]
    used: set[tuple[str, str]] = set()
    for trace in spec.get("data", []):
        if trace.get("type", "scatter") in NO_AXES:
            continue
        for letter in ("x", "y"):
            used.add((letter, trace.get(f"{letter}axis", letter)))
    for letter, ref in sorted(used):
        name = f"{letter}axis{ref[1:]}"
        axis = layout.get(name, {})
        if axis.get("visible") is False:
            continue
        ticks = " ".join(str(t) for t in axis.get("ticktext", []) or [])
        if not (WORDS.search(_text(axis.get("title"))) or WORDS.search(ticks)):
            out.append(f"{name} has no label in words")
    return out


def test_the_check_finds_what_it_should():
    good = {"layout": {"title": {"text": "Accuracy"}, "xaxis": {"title": {"text": "epoch"}},
                       "yaxis": {"title": {"text": "accuracy (%)"}}}, "data": [{"type": "scatter"}]}
    assert problems(good) == []
    bare = {"layout": {"xaxis": {"title": {"text": "%"}}}, "data": [{"type": "bar"}]}
    assert problems(bare) == ["no title in words", "xaxis has no label in words", "yaxis has no label in words"]
    assert problems({"layout": {"title": "Energy"}, "data": [{"type": "pie"}]}) == []
    assert problems({"layout": {}, "data": [{"type": "table", "header": {"values": ["step", "distance"]}}]}) == []
    assert problems({"layout": {}, "data": [{"type": "table", "header": {"values": ["step", "#"]}}]}) != []


@pytest.mark.parametrize("name", list(PAGES))
def test_every_figure_on_the_page_is_titled_and_labelled(name):
    if name in LOOKUP:
        from mbi.runs.tracecache import table_ready

        if not os.environ.get("MBI_TEST_DEFAULT_MODEL") and not table_ready("default"):
            pytest.skip("the default model has no lookup table")
    page, query = PAGES[name]
    at = open_page(page, query)
    ok(at)
    found, shown = specs(at), images(at)
    assert found or shown, "the page shows figures"
    bad = {title(s) or f"figure {i}": p for i, s in enumerate(found) if (p := problems(s))}
    bad |= {f"image {i}": "no caption or alt text in words" for i, s in enumerate(shown)
            if not (WORDS.search(caption_text(s)) and WORDS.search(s.alt))}
    assert not bad, bad
