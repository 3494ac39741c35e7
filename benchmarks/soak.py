"""Soak: N simultaneous browser sessions drive every page with random settings against one server.

Starts the dashboard on 127.0.0.1 (a fresh ``MBI_HOME`` unless ``--home``), opens ``--sessions``
headless Chromium contexts (one Streamlit session each) and lets each, until ``--minutes`` have
passed, visit every page in a random order from the sidebar and move up to ``--moves`` random
sliders on it by a random number of steps (random settings). It stops by itself: every wait is
bounded and no visit starts after the deadline. It reports, per page, the time to the first
figure and the peak memory of the server and its child processes while the visit ran, as RSS summed
(shared pages counted once per process) and as PSS summed (physical memory: shared pages once), medians
and maxima over all visits, and the overall peaks. Only loopback is used.

Usage: ``python -m benchmarks.soak [--sessions 5] [--minutes 3] [--seed 0] [--env MBI_HOSTED=1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.dashboard_server import (CHROMIUM, CHROMIUM_ARGS, PAGES, STATE_JS, DashboardServer, FigureWait,
                                         load_average, tree_pss_mb, tree_rss_mb)

WAIT_S = 300.0
"""Longest wait for one page or one rerun (a hung server ends the visit, not the benchmark)."""


class Samples:
    """(time, RSS MB, PSS MB) of the server and its child processes every 100 ms, for the peak over any interval:
    RSS summed over the processes counts their shared pages once per process, PSS (:func:`tree_pss_mb`) once."""

    def __init__(self, pid: int) -> None:
        self.pid, self.points, self._stop = pid, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.points.append((time.perf_counter(), tree_rss_mb(self.pid), tree_pss_mb(self.pid)))

    def peak(self, start: float, end: float) -> tuple[float, float]:
        """Peak (RSS summed, PSS summed) in MB between ``start`` and ``end`` (now when no sample fell inside)."""
        inside = [(m, p) for t, m, p in self.points if start <= t <= end]
        if not inside:
            return tree_rss_mb(self.pid), tree_pss_mb(self.pid)
        return max(m for m, _ in inside), max(p for _, p in inside)

    def stop(self) -> None:
        self._stop.set()


async def _state(page, title: str) -> dict:
    return await page.evaluate(STATE_JS, title)


async def _first_figure(page, title: str, idle_s: float = 60.0) -> tuple[bool, float]:
    """As :func:`benchmarks.dashboard_server.wait_first_figure`, without blocking the other sessions."""
    deadline = time.perf_counter() + WAIT_S
    wait = FigureWait(idle_s)
    while time.perf_counter() < deadline:
        found = wait.verdict(await _state(page, title), time.perf_counter())
        if found:
            return found
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{title}: no figure within {WAIT_S:.0f} s")


async def _settled(page, title: str) -> None:
    deadline = time.perf_counter() + WAIT_S
    await asyncio.sleep(0.3)  # the rerun a key press triggers starts after the key is released
    while time.perf_counter() < deadline:
        if not (await _state(page, title))["running"]:
            return
        await asyncio.sleep(0.1)


async def _random_settings(page, title: str, rng: random.Random, moves: int) -> int:
    """Move up to ``moves`` random sliders of the page by a few steps; returns how many were moved."""
    sliders = page.locator('[data-testid="stMain"] [data-testid="stSlider"] [role="slider"]')
    count = await sliders.count()
    moved = 0
    for _ in range(min(moves, count)):
        slider = sliders.nth(rng.randrange(count))
        try:
            await slider.focus(timeout=5000)
            key = rng.choice(["ArrowRight", "ArrowLeft"])
            for _ in range(rng.randint(1, 4)):
                await page.keyboard.press(key)
            moved += 1
            await _settled(page, title)
        except Exception:  # a slider that vanished in a rerun: take the next one
            continue
    return moved


async def _session(index: int, browser, url: str, deadline: float, rng: random.Random, moves: int,
                   visits: list, samples: Samples) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        start = time.perf_counter()
        await page.goto(url + "/", timeout=WAIT_S * 1000)
        drawn, at = await _first_figure(page, PAGES["Overview"][1])
        await _settled(page, PAGES["Overview"][1])
        visits.append(("Overview", at - start, drawn, samples.peak(start, time.perf_counter()), index))
        while time.perf_counter() < deadline:
            order = list(PAGES)
            rng.shuffle(order)
            for name in order:
                if time.perf_counter() >= deadline:
                    break
                path, title = PAGES[name]
                start = time.perf_counter()
                await page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]').first.click(timeout=30_000)
                drawn, at = await _first_figure(page, title)
                await _settled(page, title)
                await _random_settings(page, title, rng, moves)
                visits.append((name, at - start, drawn, samples.peak(start, time.perf_counter()), index))
    except Exception as exc:  # report and end this session; the others go on
        print(f"session {index}: stopped early ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
    finally:
        await context.close()


async def _soak(url: str, sessions: int, minutes: float, seed: int, moves: int, samples: Samples) -> list:
    from playwright.async_api import async_playwright

    visits: list = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        deadline = time.perf_counter() + 60 * minutes
        await asyncio.gather(*(_session(i, browser, url, deadline, random.Random(seed * 1000 + i), moves, visits,
                                        samples) for i in range(sessions)))
        await browser.close()
    return visits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5, help="simultaneous browser sessions (default 5)")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the sessions keep visiting (default 3)")
    parser.add_argument("--moves", type=int, default=2, help="random slider moves per visit (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, help="MBI_HOME to reuse (default: a fresh, empty one)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment for the server, e.g. MBI_HOSTED=1 or MBI_CACHE_MB=100 (repeatable)")
    args = parser.parse_args()
    if args.sessions < 1 or args.minutes <= 0 or args.moves < 0:
        parser.error("--sessions must be >= 1, --minutes > 0 and --moves >= 0")
    env = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--env takes NAME=VALUE, got {item!r}")
        env[name] = value
    if not CHROMIUM.is_file():
        raise SystemExit(f"{CHROMIUM} is absent: install Debian's chromium (apt-get install chromium)")
    home = args.home or Path(tempfile.mkdtemp(prefix="mbi-soak-"))
    print(f"load average at start {load_average()}; {args.sessions} sessions for {args.minutes:g} min, "
          f"seed {args.seed}, server env {env or '{}'}, MBI_HOME {'reused' if args.home else 'empty'}", flush=True)
    server = DashboardServer(home, env=env)
    samples = Samples(server.proc.pid)
    try:
        server.wait_healthy()
        visits = asyncio.run(_soak(server.url, args.sessions, args.minutes, args.seed, args.moves, samples))
        final = tree_rss_mb(server.proc.pid)
    finally:
        samples.stop()
        server.stop()
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print("\n| page | visits | first figure median (s) | max (s) | peak RSS median (MB) | max (MB) "
          "| peak PSS median (MB) | max (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in PAGES:
        mine = [v for v in visits if v[0] == name]
        if not mine:
            print(f"| {name} | 0 | - | - | - | - | - | - |")
            continue
        times, rss, pss = [v[1] for v in mine], [v[3][0] for v in mine], [v[3][1] for v in mine]
        no_figure = sum(1 for v in mine if not v[2])
        note = f" ({no_figure} without a figure)" if no_figure else ""
        print(f"| {name} | {len(mine)}{note} | {statistics.median(times):.2f} | {max(times):.2f} | "
              f"{statistics.median(rss):.0f} | {max(rss):.0f} | {statistics.median(pss):.0f} | {max(pss):.0f} |")
    overall = max((m for _, m, _ in samples.points), default=0.0)
    overall_pss = max((p for _, _, p in samples.points), default=0.0)
    print(f"\nserver + child processes: peak RSS {overall:.0f} MB (shared pages once per process), peak PSS "
          f"{overall_pss:.0f} MB (shared pages once), at the end RSS {final:.0f} MB; {len(visits)} visits; "
          f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
