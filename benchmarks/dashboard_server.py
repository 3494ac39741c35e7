"""Shared by the dashboard benchmarks: a dashboard server on 127.0.0.1, its memory, and a headless Chromium.

:class:`DashboardServer` starts ``streamlit run app.py`` in a fresh Python process with its own
``MBI_HOME`` and samples the process's resident memory (``/proc/PID/status``) every 50 ms, so a
benchmark can ask for the peak over any stretch of time. :func:`chromium` launches Debian's
``/usr/bin/chromium`` through Playwright (``executable_path``; Playwright's own download is not
used). Pages are opened by clicking the sidebar's navigation, as a visitor does, so one browser
context is one session.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

PAGES = {
    "Overview": ("", "MBI Explorer"),
    "RAM hyperparameters": ("ram", "RAM hyperparameters"),
    "Glimpse paths": ("glimpses", "Glimpse paths"),
    "Table size": ("table", "Table size"),
    "Metric search": ("weights", "Metric search"),
    "Cluster tree": ("tree", "Cluster tree"),
    "Mixed MBI": ("mixed", "Mixed MBI"),
    "Perturbed digit": ("perturbed", "Perturbed digit"),
    "SRAM and energy": ("hardware", "SRAM and energy"),
    "Model size": ("size", "Model size"),
}
"""Page name in the sidebar -> (URL path, the page's title), in the sidebar's order."""

SERVER = """
import os, sys, pathlib
standin = os.environ.get("MBI_TEST_DEFAULT_MODEL")  # the tests' stand-in for the shipped default model
if standin:
    import mbi.model.checkpoint
    mbi.model.checkpoint.DEFAULT_MODEL_DIR = pathlib.Path(standin)
from streamlit.web import cli
sys.argv = ["streamlit", "run", sys.argv[2], "--server.port", sys.argv[1], "--server.address", "127.0.0.1",
            "--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
sys.exit(cli.main())
"""

HOSTING_VARIABLES = ("MBI_HOSTED", "MBI_MAX_EPOCHS", "MBI_MAX_TRAIN_IMAGES", "MBI_MAX_VAL_IMAGES", "MBI_MAX_HIDDEN",
                     "MBI_MAX_RUNS")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kib_field_mb(path: str, field: str) -> float:
    """The ``field: N kB`` line of a ``/proc`` file in MB, 0 when the process is gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (``VmRSS``), 0 when it is gone."""
    return _kib_field_mb(f"/proc/{pid}/status", "VmRSS:")


def descendants(pid: int) -> list[int]:
    """The process ids of every child, grandchild, ... of ``pid`` now (from ``/proc/*/stat``)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state, ppid, ...
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MB) of ``pid`` plus all its descendants (the child processes a server starts for heavy
    work count against a host's memory too; shared pages are counted once per process, so this errs high)."""
    return rss_mb(pid) + sum(rss_mb(kid) for kid in descendants(pid))


def pss_mb(pid: int) -> float:
    """Proportional resident memory of process ``pid`` in MB (``Pss`` of ``/proc/PID/smaps_rollup``: each page
    shared by n processes counts 1/n), 0 when it is gone."""
    return _kib_field_mb(f"/proc/{pid}/smaps_rollup", "Pss:")


def tree_pss_mb(pid: int) -> float:
    """Physical memory (MB) of ``pid`` and all its descendants: their :func:`pss_mb` summed, so library code and
    mapped data that a server and its child processes share count once (as a host's memory limit counts them),
    where :func:`tree_rss_mb` counts them once per process."""
    return pss_mb(pid) + sum(pss_mb(kid) for kid in descendants(pid))


def rss_parts_mb(pid: int) -> tuple[float, float]:
    """(anonymous, file-backed) resident memory of process ``pid`` in MB (``RssAnon``, ``RssFile``): the first is the
    process's own; the second is library code and memory-mapped data, shared with other processes and reclaimable."""
    parts = {"RssAnon:": 0.0, "RssFile:": 0.0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.split(":")[0] + ":" in parts:
                parts[line.split()[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return parts["RssAnon:"], parts["RssFile:"]


def group_of(mapping: str) -> str:
    """What a ``/proc/PID/smaps`` mapping belongs to: ``anonymous`` (heap, stacks, unnamed maps), the Python
    package of a library under ``site-packages`` (e.g. ``torch``), ``MBI_HOME data`` for ``.npy`` files
    (memory-mapped MNIST copy and tables), else the file's name."""
    if not mapping or mapping.startswith("["):
        return "anonymous"
    if mapping.endswith(".npy"):
        return "MBI_HOME data (.npy maps)"
    parts = Path(mapping).parts
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
        return package.split(".")[0] if not package.endswith(".libs") else package[: -len(".libs")]
    return Path(mapping).name


def rss_by_group(smaps: str) -> dict[str, float]:
    """Resident MB per :func:`group_of` of the text of ``/proc/PID/smaps``, largest first."""
    totals: dict[str, float] = {}
    group = "anonymous"
    for line in smaps.splitlines():
        fields = line.split()
        if not fields:
            continue
        if not fields[0].endswith(":"):  # a mapping's header: address perms offset dev inode [path]
            group = group_of(" ".join(fields[5:]) if len(fields) > 5 else "")
        elif fields[0] == "Rss:":
            totals[group] = totals.get(group, 0.0) + int(fields[1]) / 1024
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` and its ended, waited-for child processes have used so far:
    unlike wall time, not inflated by other work on a shared machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class DashboardServer:
    """``streamlit run app.py`` on 127.0.0.1 in a fresh process, with memory sampled every 50 ms.

    ``home`` becomes ``MBI_HOME``; ``env`` adds variables (e.g. cache limits); ``python_flags`` go
    before ``-c`` (``["-X", "importtime"]`` writes import times to ``home/server.log``); ``app`` is the script
    served, relative to the repository root (the same ``.streamlit/config.toml`` applies to any).
    """

    def __init__(self, home: Path, env: dict[str, str] | None = None, python_flags: list[str] | None = None,
                 threads: int | None = None, app: str = "app.py") -> None:
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "server.log"
        environment = {k: v for k, v in os.environ.items() if k not in HOSTING_VARIABLES}
        environment.update({"MBI_HOME": str(self.home), "PYTHONPATH": str(ROOT), **(env or {})})
        if threads:
            environment.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
        self.home.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.started = time.perf_counter()
        self.started_epoch = time.time()
        self.proc = subprocess.Popen([sys.executable, *(python_flags or []), "-c", SERVER, str(self.port), app],
                                     cwd=ROOT, env=environment, stdout=self._log, stderr=subprocess.STDOUT)
        self._peak = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            value = tree_rss_mb(self.proc.pid)
            with self._lock:
                self._peak = max(self._peak, value)

    def reset_peak(self) -> None:
        """Start a new peak window at the current memory."""
        with self._lock:
            self._peak = tree_rss_mb(self.proc.pid)

    def peak_mb(self) -> float:
        """Highest resident memory (MB) of the server and its child processes since the last :meth:`reset_peak` (or
        the start)."""
        with self._lock:
            return max(self._peak, tree_rss_mb(self.proc.pid))

    def rss_mb(self) -> float:
        """Resident memory now (MB)."""
        return rss_mb(self.proc.pid)

    def rss_parts_mb(self) -> tuple[float, float]:
        """(anonymous, file-backed) resident memory now (MB)."""
        return rss_parts_mb(self.proc.pid)

    def rss_by_group(self) -> dict[str, float]:
        """Resident MB now per library package, memory-mapped data and anonymous memory (:func:`rss_by_group`)."""
        try:
            return rss_by_group(Path(f"/proc/{self.proc.pid}/smaps").read_text())
        except OSError:
            return {}

    def cpu_s(self) -> float:
        """CPU seconds the server has used so far."""
        return cpu_s(self.proc.pid)

    def wait_healthy(self, timeout_s: float = 300.0) -> float:
        """Seconds from the process start until ``/_stcore/health`` answers ``ok``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited with code {self.proc.returncode}: "
                                   f"{self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the dashboard did not answer its health check within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop the server and the sampler."""
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


STATE_JS = """t => {
  const h = document.querySelector('h1');
  const main = document.querySelector('[data-testid="stMain"]');
  const image = main && [...main.querySelectorAll('[data-testid="stImageContainer"] img')]
    .some(e => e.complete && e.naturalWidth > 0);
  return {page: !!h && h.textContent.startsWith(t),
          figure: !!main && (!!main.querySelector('.main-svg') || image),
          running: (document.querySelector('[data-testid="stApp"]') || {dataset: {}}).dataset.testScriptState
                   !== 'notRunning'};
}"""


class FigureWait:
    """When a page's first figure counts as drawn, or its run as over without one; shared by the blocking
    (:func:`wait_first_figure`) and the asynchronous (``benchmarks.soak``) drivers."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self.idle_since: float | None = None

    def verdict(self, state: dict, now: float) -> tuple[bool, float] | None:
        """(figure drawn, when) once decided from one :data:`STATE_JS` reading at ``now``; None: keep waiting."""
        if state["page"] and state["figure"]:
            return True, now
        if state["page"] and not state["running"]:
            if self.idle_since is None:
                self.idle_since = now
            if now - self.idle_since >= self.idle_s:
                return False, self.idle_since
        else:
            self.idle_since = None
        return None


def wait_first_figure(page, title: str, timeout_ms: float, idle_s: float = 10.0) -> tuple[bool, float]:
    """Wait until the page titled ``title`` shows and its first figure is drawn (Plotly's or a loaded image), or
    until its script run has been over for ``idle_s`` without drawing one (a page with no figure in this state).

    Returns (whether a figure was drawn, ``time.perf_counter()`` when it was drawn or the run ended).
    """
    deadline = time.monotonic() + timeout_ms / 1000
    wait = FigureWait(idle_s)
    while time.monotonic() < deadline:
        found = wait.verdict(page.evaluate(STATE_JS, title), time.perf_counter())
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"page {title!r} showed no figure within {timeout_ms / 1000:.0f} s")


def wait_settled(page, timeout_ms: float) -> None:
    """Wait until the script run is over (Streamlit's running indicator is gone)."""
    page.wait_for_function("() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState "
                           "=== 'notRunning'", timeout=timeout_ms, polling=100)


def open_page(page, name: str, timeout_ms: float) -> tuple[float, bool]:
    """Click page ``name`` in the sidebar: seconds until its first figure is drawn (or its run ended without
    one), and whether it drew one."""
    path, title = PAGES[name]
    start = time.perf_counter()
    page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first.click()
    page.wait_for_function("p => location.pathname.replace(/\\/$/, '').endsWith(p)", arg=f"/{path}" if path else "",
                           timeout=timeout_ms)
    drawn, at = wait_first_figure(page, title, timeout_ms)
    return at - start, drawn


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages (other work on the machine skews every time)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
