"""Hostile links: hypothesis searches every page's declared URL settings (text, huge and tiny floats, negative
numbers, NaN/inf, unicode, Markdown and HTML) through ``mbi.urlstate``, then opens each page under AppTest with
a few generated links: never an exception or an error box, and no link text comes back as Markdown.

The declared settings are the ones each page really passes to ``dashboard.urlsync.url_settings`` (recorded by
running every page once), so a page that adds a setting is searched too. Lookup image counts stay at 100 (the
work a link can start is capped separately, see ``mbi.runs.quota``). Skips, like the other AppTest suites,
while the shipped default model or its table is missing (fails in CI).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dashboard import furniture, urlsync
from mbi import urlstate
from mbi.runs.quota import QuotaError, WorkQuota, quota_from_env
from tests.apptools import ok, open_page

pytestmark = pytest.mark.usefixtures("default_table")

PAGE_KEYS = {"overview": "overview", "ram_hyperparameters": "ram", "glimpse_paths": "glimpses", "table_size": "table",
             "metric_search": "weights", "cluster_tree": "tree", "mixed_mbi": "mixed", "perturbed_digit": "perturbed",
             "sram_energy": "hardware", "model_size": None}
"""Each page script and the name it keeps its URL settings under (None: it has none, only the shared ones)."""
PAGE_FILES = {f"dashboard/pages/{name}.py": name for name in PAGE_KEYS}
EXPENSIVE = {"images", "branching", "leaf", "checks", "search", "node"}
"""Settings whose valid values start new lookup passes or trees: links keep them at the defaults here."""
SMALL = {"images": "100"}

HOSTILE_TEXT = st.sampled_from([
    "[Sign in again](https://evil.example/login)", "![x](https://evil.example/p.png)", "<img src=x onerror=alert(1)>",
    "<a href='https://evil.example'>x</a>", "**bold** _it_ `code`", ":red[alarm] :material/warning:", "$x^2$",
    "www.evil.example", "https://evil.example", "nan", "-inf", "inf", "1e308", "-1e308", "1e-320", "-0", "",
    "\u202e\u0661\u0662", "\U0001f600", "0x1f", "1_000", " 5 ", "9" * 80,
])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30)).map(repr)
RAW = st.one_of(HOSTILE_TEXT, NUMBERS, st.text(max_size=20), st.lists(HOSTILE_TEXT, min_size=1, max_size=3))
INERT = set(" '.,;-+?")
"""Besides letters and digits (of any script), the only characters a link's text may bring into a message."""


@pytest.fixture(scope="module")
def declared(tmp_path_factory):
    """{page file: [Param]} as each page declares them, recorded by running every page once."""
    pages = Path(__file__).resolve().parent.parent / "dashboard" / "pages"
    assert set(PAGE_KEYS) == {p.stem for p in pages.glob("*.py")}, "a page is missing from PAGE_KEYS"
    found: dict[str, list] = {}
    real = urlsync.url_settings

    def record(page, params):
        found[page] = list(params)
        return real(page, params)

    mp = pytest.MonkeyPatch()
    mp.setenv("MBI_HOME", str(tmp_path_factory.mktemp("artifacts")))
    mp.setattr(urlsync, "url_settings", record)
    try:
        for file in PAGE_FILES:
            at = open_page(None if file.endswith("overview.py") else file, SMALL)
            ok(at)
    finally:
        mp.undo()
    assert set(found) == {k for k in PAGE_KEYS.values() if k}, found.keys()
    return found


def _inert(message: str, params) -> bool:
    for p in sorted(params, key=lambda p: -len(p.title)):
        message = message.replace(p.title, "")
    return all(ch in INERT or ch.isalnum() for ch in message)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_declared_setting_parses_any_link_to_a_valid_value(declared, data):
    page = data.draw(st.sampled_from(sorted(declared)))
    params = declared[page]
    keys = data.draw(st.lists(st.sampled_from([p.name for p in params]), min_size=1, unique=True))
    query = {k: data.draw(RAW) for k in keys}
    values, messages = urlstate.parse(params, query)
    for p in params:
        assert urlstate.check(p, values[p.name]) is None, (p, query)
    for message in messages:
        assert len(message) < 200 and _inert(message, params), message
    again, _ = urlstate.parse(params, urlstate.encode(params, values))  # a fixed link reopens the same view
    for p in params:
        same = math.isclose(again[p.name], values[p.name], rel_tol=1e-5) if p.kind == "float" else \
            again[p.name] == values[p.name]
        assert same, (p, values[p.name], again[p.name])


@pytest.mark.parametrize("file", list(PAGE_FILES))
def test_each_page_opens_on_generated_hostile_links(declared, file, tmp_path, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path / "artifacts"))
    key = PAGE_KEYS[PAGE_FILES[file]]
    params = [p for p in (declared[key] if key else []) if p.name not in EXPENSIVE]
    names = [p.name for p in params] + ["model", "wb", "wc"]

    @settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
    @given(query=st.dictionaries(st.sampled_from(names), HOSTILE_TEXT, min_size=1, max_size=4))
    @example(query={n: "1e308" for n in names[:3]} | {"model": "[Sign in again](https://evil.example/)"})
    def check(query):
        at = open_page(None if file.endswith("overview.py") else file, {**SMALL, **query})
        ok(at)
        shown = [el.value for el in list(at.warning) + list(at.sidebar.warning) + list(at.info)]
        for text in shown:
            for raw in query.values():
                if len(raw) > 3 and not raw.strip().replace(".", "").replace("-", "").isalnum():
                    assert raw not in text, (raw, text)  # any punctuation of link text is escaped

    check()


def test_plain_leaves_no_markdown_or_html():
    text = "[Click here](https://evil.example/) ![i](https://evil.example/p.png) <b>x</b> :red[a] $x$\n# h"
    out = furniture.plain(text)
    assert "\n" not in out and "](" not in out and "<b>" not in out and "$x$" not in out
    assert out.replace("\\", "").replace("\u2060", "") == text.replace("\n", " ")
    assert "https://" not in out.replace("\\", "") and "evil.example" not in out.replace("\\", "")
    assert furniture.plotly_text("<a href='x'>y</a>") == "&lt;a href='x'&gt;y&lt;/a&gt;"


def test_another_visitors_run_name_is_shown_as_plain_text(tmp_path, monkeypatch):
    """A run named with Markdown, training for another visitor, appears escaped in the 'Another visitor's run' note."""
    from dashboard import models
    from mbi.config import RunConfig, TrainConfig

    monkeypatch.setenv("MBI_HOME", str(tmp_path / "artifacts"))
    name = "[Click here](https://evil.example/)"
    manager = models.training_manager()
    job = manager.start(RunConfig(train=TrainConfig(epochs=1, train_limit=50_000, val_limit=500, num_threads=1)),
                        name=name, owner="someone else")
    try:
        at = open_page("dashboard/pages/ram_hyperparameters.py")
        ok(at)
        (note,) = [i.value for i in at.info if "Another visitor" in i.value]
        assert furniture.plain(name) in note and name not in note
    finally:
        job.stop()
        job.join()


def test_quota_caps_fresh_work_per_visitor_and_server():
    clock = [0.0]
    quota = WorkQuota(per_visitor=2, concurrent=1, window_s=600, clock=lambda: clock[0])
    with quota.claim("a"):
        with pytest.raises(QuotaError, match="still running"):
            quota.acquire("a")
        with pytest.raises(QuotaError, match="busy"):
            quota.acquire("b")
    with quota.claim("a"):
        pass
    with pytest.raises(QuotaError, match="2 new lookup passes every 10 minutes"):
        quota.acquire("a")
    with quota.claim("b"):  # another visitor is not affected
        pass
    clock[0] = 601.0
    with quota.claim("a"):  # the window moved on
        pass
    hosted = quota_from_env({"MBI_HOSTED": "1"})
    assert (hosted.per_visitor, hosted.concurrent) == (6, 2)
    assert quota_from_env({}).per_visitor is None
    with pytest.raises(ValueError, match="MBI_MAX_FRESH_LOOKUPS"):
        quota_from_env({"MBI_MAX_FRESH_LOOKUPS": "zero"})
