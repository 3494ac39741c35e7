"""Cold start of the dashboard against its peers: a fresh server to the Overview's first figure, then every page once.

Two peers are served by the same command and ``.streamlit/config.toml`` and timed the same way, right before
each run of the dashboard: ``benchmarks/peer_image_app.py`` (one ``st.image`` of a tiny SVG, nothing else) and
``benchmarks/peer_app.py`` (one ``st.plotly_chart`` of a tiny figure, nothing else). So each of our two times,
to the first figure of any kind and to the first Plotly figure, has its floor on this machine, under the same
load, beside it: Streamlit alone for a figure shown as an image, Streamlit + Plotly for a Plotly figure.

Runs in one command: (1) the two peers, then a fresh dashboard server with an empty ``MBI_HOME`` (nothing
cached: the first load of MNIST decodes the pickle and writes the uint8 copy); (2) the peers again, then a
second fresh dashboard server on the same ``MBI_HOME`` (the uint8 copy exists); ``--warm-runs N`` repeats (2)
N times. Each run: Chromium is started first (once), then the server; a new browser context opens ``/`` as
soon as the health check answers. The browser records (a ``MutationObserver`` installed before the page's own
scripts) when Streamlit's app shell appears, when the main area's first element appears (the Overview: its
``h1`` title), when the first figure is drawn: an ``st.image`` (its ``<img>`` in ``stImageContainer`` has
loaded) or a Plotly figure (its ``.main-svg`` exists), whichever comes first, and separately the first
``.main-svg``, and when the lazily loaded PlotlyChart chunk was requested and received. A dashboard run waits
for its first script run to end, so a Plotly figure after the first image is seen too ("none" when the first
view has none). Each phase is printed with its wall time, the server's CPU seconds and the browser's
(Chromium and Playwright's driver), both sampled from ``/proc`` every 100 ms:
CPU seconds are what other work on a shared machine does not inflate.

With ``--pages`` the dashboard's visitor then opens every page from the sidebar (in the cold run and the first
warm run), and the time to each page's
first figure and the server's resident memory (peak while the page loads, and after; at the end also split
into the process's own, anonymous memory and its file-backed pages, and by library package and mapped data)
are printed. With ``--importtime`` both servers run under ``python -X importtime`` and the packages each
imported until its first figure was drawn are listed by import time, ours beside the Plotly peer's (the flag slows
imports a little). ``--env NAME=VALUE`` (repeatable) sets a variable for both servers (e.g. a ``STREAMLIT_*`` setting).

Usage: ``python -m benchmarks.coldstart [--warm-runs N] [--pages [--dwell S]] [--importtime] [--env NAME=VALUE]``
(e.g. ``--env NUMBA_CACHE_DIR=/tmp/empty`` for a first deploy, whose numba kernels are not compiled yet;
``--env MBI_SHIPPED_VIEWS=off`` to compute the shipped model's views; ``--env MBI_PREPARE=off`` without the
background preparation).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.dashboard_server import PAGES, DashboardServer, chromium, load_average, open_page, wait_settled

TIMEOUT_S = 600.0
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
PEER_APPS = {"image peer": "benchmarks/peer_image_app.py", "Plotly peer": "benchmarks/peer_app.py"}
"""The peers, by the name a table gives them: one ``st.image``, one ``st.plotly_chart``."""

MARKS_JS = """(() => {
  const marks = {};
  window.__coldstart = marks;
  const drawn = (name, at) => {
    if (!marks[name]) marks[name] = at;
    if (!marks.figure) marks.figure = at;
    if (marks.svg && marks.img) observer.disconnect();
  };
  const watchImage = img => {  // an image counts once it has loaded (decoded, drawn in the next frame)
    if (img.__coldstart) return;
    img.__coldstart = true;
    if (img.complete && img.naturalWidth > 0) drawn('img', Date.now());
    else img.addEventListener('load', () => drawn('img', Date.now()), {once: true});
  };
  const check = () => {
    const now = Date.now();
    if (!marks.shell && document.querySelector('[data-testid="stApp"]')) marks.shell = now;
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main) return;
    if (!marks.element && main.querySelector('[data-testid="stElementContainer"]')) marks.element = now;
    if (!marks.h1 && main.querySelector('h1')) marks.h1 = now;
    if (!marks.svg && main.querySelector('.main-svg')) drawn('svg', now);
    if (!marks.img) main.querySelectorAll('[data-testid="stImageContainer"] img').forEach(watchImage);
  };
  const observer = new MutationObserver(check);
  observer.observe(document, {childList: true, subtree: true});
})();"""
"""Installed before the page's scripts: ``window.__coldstart`` gets the epoch milliseconds of each first sight."""

READ_MARKS_JS = """() => {
  const origin = performance.timeOrigin;
  const chunk = performance.getEntriesByType('resource').find(e => e.name.includes('/PlotlyChart.'));
  return {...window.__coldstart,
          ...(chunk ? {chunk_start: origin + chunk.startTime, chunk_end: origin + chunk.responseEnd,
                       chunk_kb: chunk.encodedBodySize / 1024} : {})};
}"""


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user + system) of a live process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class CpuSampler:
    """CPU seconds of the server's process tree and of the browser's (every other descendant of this process:
    Playwright's driver and Chromium's processes), sampled every ``interval`` seconds in a thread.

    A process that exits keeps the last CPU time seen, so a side's total never goes down.
    """

    def __init__(self, server_pid: int, interval: float = 0.1) -> None:
        self.server_pid = server_pid
        self.interval = interval
        self.side: dict[int, str] = {}  # pid -> "server" | "browser" | "" (not ours: never read again)
        self.cpu: dict[int, float] = {}
        self.samples: list[tuple[float, float, float]] = []  # (epoch s, server CPU s, browser CPU s)
        self._lock = threading.Lock()  # sample() runs in the thread and in callers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _classify(self, pid: int, ppid: int) -> str:
        if pid == self.server_pid or self.side.get(ppid) == "server":
            return "server"
        if ppid == os.getpid() or self.side.get(ppid) == "browser":
            return "browser"
        return ""

    def sample(self) -> tuple[float, float, float]:
        """Read ``/proc`` now: (epoch s, server CPU s, browser CPU s)."""
        with self._lock:
            return self._sample()

    def _sample(self) -> tuple[float, float, float]:
        for pid in sorted(int(name) for name in os.listdir("/proc") if name.isdigit()):
            if self.side.get(pid) == "":
                continue
            stat = _stat(pid)
            if stat is None:
                continue
            if pid not in self.side:
                self.side[pid] = self._classify(pid, stat[0])
            if self.side[pid]:
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), stat[1])
        totals = {"server": 0.0, "browser": 0.0}
        for pid, seconds in self.cpu.items():
            totals[self.side[pid]] += seconds
        return time.time(), totals["server"], totals["browser"]

    def _run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop sampling (after one last sample); again: nothing."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self.samples.append(self.sample())

    def at(self, epoch: float) -> tuple[float, float]:
        """(server, browser) CPU seconds at ``epoch``, interpolated linearly between the samples around it."""
        before = [s for s in self.samples if s[0] <= epoch] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= epoch] or self.samples[-1:]
        (t0, s0, b0), (t1, s1, b1) = before[-1], after[0]
        w = 0.0 if t1 <= t0 else (epoch - t0) / (t1 - t0)
        return s0 + w * (s1 - s0), b0 + w * (b1 - b0)


@dataclass
class Run:
    """One fresh server to its first figure: epoch seconds of each mark (``start``, ``health``, the browser's)."""

    label: str
    app: str
    marks: dict[str, float] = field(default_factory=dict)
    cpu: CpuSampler | None = None
    chunk_kb: float | None = None
    log: str = ""  # the server's output up to the first figure (import times under ``--importtime``)
    plotly_requested: list[str] = field(default_factory=list)  # URLs of PlotlyChart chunk requests seen

    def since_start(self, mark: str) -> float:
        return self.marks[mark] - self.marks["start"]

    @property
    def total(self) -> float:
        """Process start -> the first figure of any kind."""
        return self.since_start("figure")

    @property
    def plotly(self) -> float | None:
        """Process start -> the first Plotly figure (``.main-svg``); None when there was none."""
        return self.since_start("svg") if "svg" in self.marks else None

    def cpu_between(self, a: str, b: str) -> tuple[float, float]:
        (s0, b0), (s1, b1) = self.cpu.at(self.marks[a]), self.cpu.at(self.marks[b])
        return s1 - s0, b1 - b0

    def print_breakdown(self) -> None:
        first = "h1" if "h1" in self.marks else "element"
        phases = [("server process start -> health check ok", "start", "health"),
                  ("health ok -> Streamlit's app shell drawn (its bundle loaded, session started)", "health", "shell"),
                  (f"app shell -> page's first element ({'its h1 title' if first == 'h1' else 'the chart'})", "shell",
                   first),
                  ("first element -> first figure drawn (an image loaded or a .main-svg)", first, "figure"),
                  ("**total: process start -> first figure**", "start", "figure")]
        print(f"\n### {self.label} ({self.app})\n")
        print("| phase | wall (s) | server CPU (s) | browser CPU (s) |\n|---|---:|---:|---:|")
        for text, a, b in phases:
            server_cpu, browser_cpu = self.cpu_between(a, b)
            print(f"| {text} | {self.marks[b] - self.marks[a]:.2f} | {server_cpu:.2f} | {browser_cpu:.2f} |")
        kind = "an image" if self.marks.get("img") == self.marks["figure"] else "a Plotly figure"
        plotly = "none on the first view" if self.plotly is None else f"{self.plotly:.2f} s"
        print(f"\nfirst figure: {kind}; first Plotly figure (.main-svg): {plotly} (from the process start)")
        if "chunk_start" in self.marks:
            print(f"PlotlyChart chunk ({self.chunk_kb:.0f} kB on the wire): requested at "
                  f"{self.since_start('chunk_start'):.2f} s, received at {self.since_start('chunk_end'):.2f} s")


def wait_marks(page, server: DashboardServer) -> dict:
    """Poll the page's marks until the first figure is drawn; fail if the server exits or time runs out."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        marks = page.evaluate(READ_MARKS_JS)
        if marks.get("figure"):
            return marks
        if server.proc.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log_path.read_text()[-2000:]}")
        time.sleep(0.05)
    raise TimeoutError(f"no figure within {TIMEOUT_S:.0f} s")


def first_figure(browser, home: Path, label: str, app: str, python_flags: list[str] | None,
                 env: dict[str, str]) -> tuple[Run, DashboardServer, object]:
    """Start a fresh server for ``app`` on ``home`` and open ``/`` in a new browser context as soon as it is
    healthy; return the run's marks, the (running) server and the page, at the first drawn figure."""
    server = DashboardServer(home, env=env, python_flags=python_flags, app=app)
    run = Run(label, app, {"start": server.started_epoch}, CpuSampler(server.proc.pid))
    try:
        server.wait_healthy()
        run.marks["health"] = time.time()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(MARKS_JS)
        page = context.new_page()
        page.on("request", lambda r: "/PlotlyChart." in r.url and run.plotly_requested.append(r.url))
        page.goto(server.url + "/", wait_until="commit")
        marks = wait_marks(page, server)
    except BaseException:
        run.cpu.stop()
        server.stop()
        raise
    run.chunk_kb = marks.pop("chunk_kb", None)
    run.marks.update({k: v / 1000 for k, v in marks.items()})
    run.log = server.log_path.read_text(errors="replace")
    return run, server, page


def dashboard_run(browser, home: Path, label: str, pages: bool, python_flags: list[str] | None,
                  env: dict[str, str], dwell_s: float = 0.0) -> Run:
    """The dashboard on ``home``: its first figure (breakdown printed), then optionally every page, each opened
    ``dwell_s`` seconds after the previous one settled (a visitor reading it)."""
    run, server, page = first_figure(browser, home, label, "app.py", python_flags, env)
    try:
        wait_settled(page, TIMEOUT_S * 1000)
        if run.plotly_requested:  # a Plotly figure on the first view: wait for it too (after the first image)
            page.wait_for_function("() => window.__coldstart.svg", timeout=TIMEOUT_S * 1000, polling=50)
        marks = page.evaluate(READ_MARKS_JS)
        run.chunk_kb = marks.pop("chunk_kb", None)
        run.marks.update({k: v / 1000 for k, v in marks.items()})
        run.cpu.stop()
        run.print_breakdown()
        print(f"\nserver RSS at the first figure's run end {server.rss_mb():.0f} MB (peak {server.peak_mb():.0f} MB)")
        if pages:
            print("\n| page | time to first figure (s) | server CPU (s) | peak RSS while loading, server + child processes (MB) | RSS after (MB) |")
            print("|---|---:|---:|---:|---:|")
            for name in PAGES:
                if name == "Overview":
                    continue
                time.sleep(dwell_s)
                server.reset_peak()
                cpu = server.cpu_s()
                seconds, drawn = open_page(page, name, TIMEOUT_S * 1000)
                cpu = server.cpu_s() - cpu
                wait_settled(page, TIMEOUT_S * 1000)
                note = "" if drawn else " (no figure: run over)"
                print(f"| {name} | {seconds:.2f}{note} | {cpu:.2f} | {server.peak_mb():.0f} | {server.rss_mb():.0f} |",
                      flush=True)
            anon, mapped = server.rss_parts_mb()
            print(f"\nRSS after one visitor opened every page: {server.rss_mb():.0f} MB ({anon:.0f} MB anonymous, "
                  f"{mapped:.0f} MB file-backed: library code and memory-mapped data)")
            groups = server.rss_by_group()
            print("\nwhere it is (resident MB per mapping of /proc/PID/smaps; libraries by package):\n")
            print("| what | MB |\n|---|---:|")
            for what, mb in list(groups.items())[:10]:
                print(f"| {what} | {mb:.0f} |")
            print(f"| everything else | {sum(list(groups.values())[10:]):.0f} |")
        page.context.close()
    finally:
        run.cpu.stop()
        server.stop()
    return run


def peer_run(browser, home: Path, label: str, app: str, python_flags: list[str] | None, env: dict[str, str]) -> Run:
    """A peer app's first figure, timed as the dashboard's (breakdown printed)."""
    run, server, page = first_figure(browser, home, label, app, python_flags, env)
    try:
        run.cpu.stop()
        page.context.close()
    finally:
        server.stop()
    run.print_breakdown()
    return run


def import_breakdown(log: str, top: int = 12) -> list[tuple[str, float]]:
    """(top-level package, seconds) of the import-time log: the self time of every module, summed per package."""
    totals: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            totals[match.group(4).split(".")[0]] += int(match.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def print_imports(ours: Run, peer: Run) -> None:
    """Import time by package until the first figure, ours beside the peer's."""
    theirs = dict(import_breakdown(peer.log, top=1000))
    print("\nimport time of the server until the first figure, by package (self time of its modules, "
          "python -X importtime):\n\n| package | ours (s) | peer (s) |\n|---|---:|---:|")
    for name, seconds in import_breakdown(ours.log):
        print(f"| {name} | {seconds:.2f} | {theirs.get(name, 0.0):.2f} |")
    total_ours = sum(s for _, s in import_breakdown(ours.log, top=1000))
    print(f"| all | {total_ours:.2f} | {sum(theirs.values()):.2f} |")


def print_summary(rounds: list[tuple[Run, Run, Run]]) -> None:
    """Ours beside the peers measured right before it, per run, and the medians of the warm runs: the first figure of
    any kind beside the image peer's, the first Plotly figure beside the Plotly peer's."""
    print("\n## Summary: process start -> first figure, wall s (server CPU s / browser CPU s)\n")
    print("| run | ours, first figure | image peer | ours / peer | ours, first Plotly figure | Plotly peer | "
          "ours / peer |\n|---|---:|---:|---:|---:|---:|---:|")

    def cell(run: Run, mark: str) -> str:
        if mark not in run.marks:
            return "none"
        server_cpu, browser_cpu = run.cpu_between("start", mark)
        return f"{run.since_start(mark):.2f} ({server_cpu:.2f} / {browser_cpu:.2f})"

    def ratio(ours: Run, peer: Run, mark: str) -> str:
        return f"{ours.since_start(mark) / peer.since_start(mark):.2f}" if mark in ours.marks else "-"

    for ours, image, plotly in rounds:
        print(f"| {ours.label} | {cell(ours, 'figure')} | {cell(image, 'figure')} | {ratio(ours, image, 'figure')} | "
              f"{cell(ours, 'svg')} | {cell(plotly, 'svg')} | {ratio(ours, plotly, 'svg')} |")
    warm = rounds[1:]
    if len(warm) > 1:
        def median(values) -> str:
            values = list(values)
            return f"{statistics.median(values):.2f}" if values else "-"

        def med(runs: list[Run], mark: str) -> str:
            runs = [r for r in runs if mark in r.marks]
            cpu = [r.cpu_between("start", mark) for r in runs]
            return (f"{median(r.since_start(mark) for r in runs)} ({median(c[0] for c in cpu)} / "
                    f"{median(c[1] for c in cpu)})") if runs else "none"

        ours, image, plotly = ([r[k] for r in warm] for k in range(3))
        figure_ratio = median(o.total / p.total for o, p in zip(ours, image))
        plotly_ratio = median(o.plotly / p.plotly for o, p in zip(ours, plotly) if o.plotly is not None)
        print(f"| warm, median of {len(warm)} | {med(ours, 'figure')} | {med(image, 'figure')} | {figure_ratio} | "
              f"{med(ours, 'svg')} | {med(plotly, 'svg')} | {plotly_ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm-runs", type=int, default=1, help="runs on the MBI_HOME of the cold run (default 1)")
    parser.add_argument("--pages", action="store_true", help="also open every page once, in the sidebar's order")
    parser.add_argument("--dwell", type=float, default=0.0, metavar="SECONDS",
                        help="with --pages: seconds the visitor reads each page before opening the next (default 0)")
    parser.add_argument("--importtime", action="store_true", help="run the servers under python -X importtime")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for both servers (repeatable)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    flags = ["-X", "importtime"] if args.importtime else None
    home = Path(tempfile.mkdtemp(prefix="mbi-coldstart-"))
    peer_home = Path(tempfile.mkdtemp(prefix="mbi-coldstart-peer-"))
    print(f"load average at start {load_average()}; env {env or 'none'}; dwell {args.dwell:g} s")
    rounds: list[tuple[Run, Run, Run]] = []
    try:
        with chromium() as browser:
            for i in range(1 + args.warm_runs):
                label = "cold" if i == 0 else f"warm {i}"
                print(f"\n## {label}: MBI_HOME {'empty' if i == 0 else 'with the uint8 copy'}; "
                      f"load average {load_average()}")
                image, plotly = (peer_run(browser, peer_home, f"{name}, before {label}", app, flags, env)
                                 for name, app in PEER_APPS.items())
                ours = dashboard_run(browser, home, label, args.pages and i < 2, flags, env, args.dwell)
                rounds.append((ours, image, plotly))
                if args.importtime:
                    print_imports(ours, plotly)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(peer_home, ignore_errors=True)
    print_summary(rounds)
    print(f"\nload average at the end {load_average()}")


if __name__ == "__main__":
    main()
