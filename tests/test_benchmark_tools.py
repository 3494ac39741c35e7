"""The benchmarks' page-wait rule (shared by the cold-start and soak drivers) on hand-made page states, and their
resident-memory ledger on a hand-made ``smaps``, and the server's memory counted with its child processes."""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks.dashboard_server import FigureWait, descendants, pss_mb, rss_by_group, rss_mb, tree_pss_mb, tree_rss_mb


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


SMAPS = """\
55d0c0000000-55d0c0100000 rw-p 00000000 00:00 0                          [heap]
Rss:                2048 kB
Pss:                2048 kB
7f0000000000-7f0000400000 r-xp 00000000 08:01 11 /venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so
Size:               4096 kB
Rss:                3072 kB
7f0000400000-7f0000500000 r--p 00400000 08:01 11 /venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so
Rss:                1024 kB
7f0001000000-7f0001100000 r--p 00000000 08:01 12 /venv/lib/python3.11/site-packages/numpy.libs/libopenblas.so
Rss:                 512 kB
7f0002000000-7f0002100000 r--s 00000000 08:01 13 /home/x/tables/mapped/keys-00.npy
Rss:                5120 kB
7f0003000000-7f0003100000 rw-p 00000000 00:00 0
Rss:                1024 kB
7f0004000000-7f0004100000 r-xp 00000000 08:01 14 /usr/lib/libc.so.6
Rss:                 256 kB
"""


def test_the_memory_ledger_groups_mappings_by_package_data_and_anonymous():
    groups = rss_by_group(SMAPS)
    assert groups == {"MBI_HOME data (.npy maps)": 5.0, "torch": 4.0, "anonymous": 3.0, "numpy": 0.5,
                      "libc.so.6": 0.25}
    assert list(groups) == ["MBI_HOME data (.npy maps)", "torch", "anonymous", "numpy", "libc.so.6"]


def test_the_memory_of_child_processes_is_counted_with_the_server():
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert child.pid in descendants(os.getpid())
        # the child's few MB are in the total (read twice, so allow the server's own memory to move a little)
        assert tree_rss_mb(os.getpid()) - rss_mb(os.getpid()) > rss_mb(child.pid) / 2 > 0
        # proportional memory: the same process tree, the shared library pages counted once
        assert 0 < pss_mb(child.pid) < rss_mb(child.pid)
        assert pss_mb(os.getpid()) < tree_pss_mb(os.getpid()) < tree_rss_mb(os.getpid())
    finally:
        child.communicate(b"")
    assert child.pid not in descendants(os.getpid())


BUSY = """
import sys, time
while time.process_time() < float(sys.argv[1]):
    pass
print("done", flush=True)
sys.stdin.read()  # idle until the test closes stdin
"""


def test_the_cold_start_cpu_ledger_counts_the_server_tree_and_the_browser_apart():
    """benchmarks.coldstart.CpuSampler: the server's process (and its children) on one side, every other child of
    this process (the browser) on the other; interpolated between samples; an exited process keeps its time."""
    import subprocess
    import sys

    from benchmarks.coldstart import CpuSampler

    children = [subprocess.Popen([sys.executable, "-c", BUSY, seconds], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for seconds in ("0.6", "0.3")]
    server, browser = children
    sampler = CpuSampler(server.pid, interval=0.05)
    try:
        for child in children:
            assert child.stdout.readline().strip() == "done"  # it has burnt its CPU time
        sampler.sample()  # seen alive
    finally:
        for child in children:
            child.stdin.close()
            child.wait()
    sampler.stop()
    _, server_cpu, browser_cpu = sampler.samples[-1]
    assert 0.5 <= server_cpu < 0.8  # the exited server keeps its time; the browser's is not in it
    assert 0.2 <= browser_cpu < 0.5
    sampler.samples = [(10.0, 1.0, 2.0), (11.0, 2.0, 2.0)]
    assert sampler.at(10.25) == (1.25, 2.0)
    assert sampler.at(9.0) == (1.0, 2.0) and sampler.at(12.0) == (2.0, 2.0)
