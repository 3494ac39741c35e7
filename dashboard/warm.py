"""Compute what every page shows in its default state into ``$MBI_HOME``, before the first visitor comes.

On an empty ``MBI_HOME`` a page's first view computes its results once (the MNIST copy, the mapped table, the
lookups' traces, the RAM's answers and glimpse trace, the table-size curve, the trees, the learned gate's
neighbours: BENCHMARKS.md "Torch out of the server" measured 18-92 s for the slowest pages) and every later
view, in any server process, reads them from disk (under 1.3 s). ``python -m dashboard.warm`` opens each page
of the app in its default state once, in this process, as a visitor would (Streamlit's ``AppTest``), so that a
freshly deployed copy starts warm; it prints per page the CPU seconds and any message the page showed, and
exits with status 1 when a page failed. Run it with the server's environment (``MBI_HOME``, ``MBI_HOSTED``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"


def page_files() -> list[str]:
    """The app's page scripts, relative to the repository root, in the sidebar's order (``app.PAGE_GROUPS``)."""
    sys.path.insert(0, str(ROOT))
    import app

    seen: list[str] = []
    for entries in app.PAGE_GROUPS.values():
        for file, *_ in entries:
            path = str((app.PAGES_DIR / file).relative_to(ROOT))
            if path not in seen:
                seen.append(path)
    return seen


def _cpu_s() -> float:
    """CPU seconds of this process and of its ended child processes (the pages' computations run in children)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def warm(pages: list[str] | None = None, timeout_s: float = 3600.0) -> list[tuple[str, float, list[str]]]:
    """Open each page (default: every page) once in its default state: ``(page, CPU seconds, problems)`` per
    page (CPU of this process and its child processes), where problems are the page's error messages and
    exceptions (empty when it drew)."""
    at = AppTest.from_file(str(APP), default_timeout=timeout_s).run()
    done = []
    for page in pages or page_files():
        start = _cpu_s()
        at.switch_page(page)
        at.query_params.clear()
        at.run()
        problems = [str(e.value) for e in at.error] + [str(e.value) for e in at.exception]
        done.append((page, _cpu_s() - start, problems))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    failed = False
    for page, seconds, problems in warm():
        print(f"{page}: {seconds:.1f} CPU-s" + ("" if not problems else f"; problems: {problems}"), flush=True)
        failed = failed or bool(problems)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
