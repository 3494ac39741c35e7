"""Short-lived child processes (``mbi.runs.child``): how many run at once, progress lines, errors."""

from __future__ import annotations

import threading

import pytest

from mbi.runs import child
from mbi.runs.child import ChildError, max_children, run_child


def test_max_children_default_and_override():
    assert max_children({}) == 1
    assert max_children({"MBI_HOSTED": "1", "MBI_MAX_CHILDREN": "3"}) == 3
    with pytest.raises(ValueError, match="MBI_MAX_CHILDREN"):
        max_children({"MBI_MAX_CHILDREN": "0"})


def test_progress_lines_reach_the_caller_and_other_lines_do_not(tmp_path):
    seen = []
    run_child("tests.child_probe", [str(tmp_path / "log"), "progress"], "the probe", lambda f, m: seen.append((f, m)))
    assert seen == [(0.25, "a quarter"), (1.0, "")]
    assert [line.split()[0] for line in (tmp_path / "log").read_text().splitlines()] == ["start", "end"]


def test_env_defaults_reach_the_child_unless_the_environment_sets_them(tmp_path, monkeypatch):
    def setting() -> str:
        seen = []
        run_child("tests.child_probe", [str(tmp_path / "log"), "env"], "the probe", lambda f, m: seen.append(m),
                  env_defaults={"MBI_PROBE_SETTING": "default"})
        return seen[0]

    monkeypatch.delenv("MBI_PROBE_SETTING", raising=False)
    assert setting() == "default"
    monkeypatch.setenv("MBI_PROBE_SETTING", "own")
    assert setting() == "own"


def test_a_failing_child_raises_with_its_error_text(tmp_path):
    with pytest.raises(ChildError, match=r"the probe in a child process failed \(exit status 1\): "
                                         r"the probe was told to fail$"):
        run_child("tests.child_probe", [str(tmp_path / "log"), "fail"], "the probe")


def test_with_one_slot_children_run_one_after_the_other(tmp_path, monkeypatch):
    monkeypatch.setenv("MBI_MAX_CHILDREN", "1")
    monkeypatch.setattr(child, "_slots", {})
    log, waited, errors = tmp_path / "log", [], []

    def one() -> None:
        try:
            run_child("tests.child_probe", [str(log), "slow"], "the probe", waiting=lambda: waited.append(1))
        except Exception as exc:  # reported below: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    words = [line.split() for line in log.read_text().splitlines()]
    assert [w for w, _ in words] == ["start", "end"] * 3  # never two starts in a row
    assert all(words[i][1] == words[i + 1][1] for i in range(0, 6, 2))
    assert len(waited) >= 1  # three callers, one slot: at least one waited (usually two)


class _GaveUp(Exception):
    """What a page's rerun looks like to run_child: an exception out of its progress callback."""


def test_a_caller_that_gives_up_leaves_the_child_to_finish_holding_its_slot(tmp_path, monkeypatch):
    monkeypatch.setenv("MBI_MAX_CHILDREN", "1")
    monkeypatch.setattr(child, "_slots", {})
    log = tmp_path / "log"

    def give_up(fraction: float, message: str) -> None:
        raise _GaveUp

    with pytest.raises(_GaveUp):
        run_child("tests.child_probe", [str(log), "slow"], "the probe", give_up)
    run_child("tests.child_probe", [str(log), "slow"], "the probe")  # waits for the first child's slot
    words = [line.split()[0] for line in log.read_text().splitlines()]
    assert words == ["start", "end", "start", "end"]  # the first child ended before the second started
