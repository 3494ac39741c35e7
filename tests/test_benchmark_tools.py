"""The benchmarks' page-wait rule (shared by the cold-start and soak drivers) on hand-made page states."""

from __future__ import annotations

from benchmarks.dashboard_server import FigureWait


def state(page: bool = True, figure: bool = False, running: bool = True) -> dict:
    return {"page": page, "figure": figure, "running": running}


def test_a_drawn_figure_ends_the_wait_at_once():
    assert FigureWait(10.0).verdict(state(figure=True), 3.0) == (True, 3.0)


def test_a_run_over_without_a_figure_ends_the_wait_after_idle_seconds_counted_from_its_end():
    wait = FigureWait(2.0)
    assert wait.verdict(state(running=False), 0.0) is None
    assert wait.verdict(state(running=False), 1.9) is None
    assert wait.verdict(state(running=False), 2.0) == (False, 0.0)


def test_a_new_run_or_another_page_restarts_the_idle_clock():
    wait = FigureWait(2.0)
    assert wait.verdict(state(running=False), 0.0) is None
    assert wait.verdict(state(running=True), 1.0) is None  # a rerun started: not idle any more
    assert wait.verdict(state(running=False), 1.5) is None
    assert wait.verdict(state(running=False), 3.0) is None
    assert wait.verdict(state(running=False), 3.5) == (False, 1.5)
    assert FigureWait(0.0).verdict(state(page=False, running=False), 9.0) is None  # still the previous page
