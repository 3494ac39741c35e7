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
