"""Cold start of the dashboard: a fresh server to the Overview's first figure, then every page once.

Two runs in one command: (1) a fresh server process with an empty ``MBI_HOME`` (nothing cached:
the first load of MNIST decodes the pickle and writes the uint8 copy), (2) a second fresh server on
the same ``MBI_HOME`` (the uint8 copy exists). Each run: Chromium is started first, then the
server; the time is from the server process's start to the Overview's first Plotly figure, split
into "server answers its health check" and "first figure". With ``--pages`` the same visitor then
opens every page from the sidebar, and the time to each page's first figure and the server's
resident memory (peak while the page loads, and after; at the end also split into the process's own,
anonymous memory and its file-backed pages, and by library package and mapped data) are printed. With ``--importtime`` the
server runs under ``python -X importtime`` and the packages its first Overview imports are listed
by cumulative import time (the flag itself slows imports a little).

Usage: ``python -m benchmarks.coldstart [--pages] [--importtime]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.dashboard_server import (PAGES, DashboardServer, chromium, load_average, open_page, wait_first_figure,
                                         wait_settled)

TIMEOUT_MS = 600_000
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_breakdown(log: str, top: int = 12) -> list[tuple[str, float]]:
    """(top-level package, seconds) of the import-time log: the self time of every module, summed per package."""
    totals: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            totals[match.group(4).split(".")[0]] += int(match.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def one_run(browser, home: Path, label: str, pages: bool, importtime: bool) -> None:
    """One fresh server on ``home``: time to the Overview's first figure, then (optionally) every page."""
    server = DashboardServer(home, python_flags=["-X", "importtime"] if importtime else None)
    try:
        healthy = server.wait_healthy()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(server.url + "/")
        _, at = wait_first_figure(page, PAGES["Overview"][1], TIMEOUT_MS)
        first = at - server.started
        first_cpu = server.cpu_s()
        log_at_first = server.log_path.stat().st_size
        wait_settled(page, TIMEOUT_MS)
        print(f"\n## {label}: MBI_HOME {'empty' if label.startswith('cold') else 'with the uint8 copy'}")
        print(f"load average at start {load_average()}")
        print(f"server process start -> health check ok: {healthy:.2f} s")
        print(f"server process start -> Overview's first figure: {first:.2f} s wall, {first_cpu:.2f} s of server CPU "
              f"(RSS {server.rss_mb():.0f} MB, peak {server.peak_mb():.0f} MB)")
        if pages:
            print("\n| page | time to first figure (s) | server CPU (s) | peak RSS while loading, server + child processes (MB) | RSS after (MB) |")
            print("|---|---:|---:|---:|---:|")
            for name in PAGES:
                if name == "Overview":
                    continue
                server.reset_peak()
                cpu = server.cpu_s()
                seconds, drawn = open_page(page, name, TIMEOUT_MS)
                cpu = server.cpu_s() - cpu
                wait_settled(page, TIMEOUT_MS)
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
        context.close()
    finally:
        server.stop()
    if importtime:
        log = server.log_path.read_text(errors="replace")
        for what, text in (("until the Overview's first figure", log[:log_at_first]),
                           ("over the whole run", log)):
            print(f"\nimport time of the server {what}, by package (self time of its modules, "
                  "python -X importtime):")
            print("\n| package | s |\n|---|---:|")
            for name, seconds in import_breakdown(text):
                print(f"| {name} | {seconds:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", action="store_true", help="also open every page once, in the sidebar's order")
    parser.add_argument("--importtime", action="store_true", help="run the server under python -X importtime")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="mbi-coldstart-"))
    try:
        with chromium() as browser:
            for label in ("cold", "warm"):
                one_run(browser, home, label, args.pages, args.importtime)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
