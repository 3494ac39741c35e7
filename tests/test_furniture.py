"""Figures fitted to a phone's width: long titles broken at word boundaries, the tool bar off the title."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.furniture import TITLE_CHARS, fit_narrow

LONG = "Mixed MBI (Fig. 5): accuracy and share answered by lookup vs the distance threshold"


def test_a_long_title_is_broken_into_short_lines_with_every_word_kept():
    fig = fit_narrow(go.Figure(layout=dict(title=dict(text=LONG))))
    lines = fig.layout.title.text.split("<br>")
    assert len(lines) > 1 and all(len(line) <= TITLE_CHARS for line in lines)
    assert " ".join(lines) == LONG
    assert fig.layout.title.automargin is True and fig.layout.modebar.orientation == "v"


def test_short_titles_stay_and_fitting_twice_changes_nothing():
    short = fit_narrow(go.Figure(layout=dict(title=dict(text="Lookup accuracy vs table size"))))
    assert short.layout.title.text == "Lookup accuracy vs table size"
    once = fit_narrow(go.Figure(layout=dict(title=dict(text=LONG)))).layout.title.text
    assert fit_narrow(go.Figure(layout=dict(title=dict(text=once)))).layout.title.text == once


def test_animation_frames_get_their_titles_broken_too():
    frames = [go.Frame(name=str(k), layout=dict(title=dict(text=f"{LONG} (glimpse {k} of 4)"))) for k in (1, 2)]
    fig = fit_narrow(go.Figure(frames=frames, layout=dict(title=dict(text="short"))))
    for frame in fig.frames:
        assert "<br>" in frame.layout.title.text
        assert all(len(line) <= TITLE_CHARS for line in frame.layout.title.text.split("<br>"))


def test_a_text_table_keeps_every_cell_literal_and_in_its_column():
    """furniture.text_table: a Markdown table whose cells cannot make links or extra columns; None shows as '-'."""
    import re

    from streamlit.testing.v1 import AppTest

    def script():
        import pandas as pd

        from dashboard.furniture import text_table

        text_table(pd.DataFrame([["[x](https://e.com) | y", None], ["98.24%", "**b**"]], columns=["what", "value"]))

    at = AppTest.from_function(script).run()
    assert not at.exception
    lines = at.markdown[0].value.splitlines()
    assert len(lines) == 4 and lines[1] == "|---|---|"
    assert all(len(re.findall(r"(?<!\\)\|", line)) == 3 for line in lines)  # two columns on every row
    assert "](" not in lines[2] and "\\[x\\]" in lines[2] and lines[2].endswith("| \\- |")
    assert "\\*\\*b\\*\\*" in lines[3]
