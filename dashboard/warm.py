"""Compute what every page shows in its default state into ``$MBI_HOME``, before the first visitor comes.

On an empty ``MBI_HOME`` a page's first view computes its results once (the MNIST copy, the mapped table, the
lookups' traces, the RAM's answers and glimpse trace, the table-size curve, the trees, the learned gate's
neighbours: BENCHMARKS.md "Torch out of the server" measured 18-92 s for the slowest pages) and every later
view, in any server process, reads them from disk (under 1.3 s). ``python -m dashboard.warm`` opens each page
of the app in its default state once, in this process, as a visitor would (Streamlit's ``AppTest``), so that a
freshly deployed copy starts warm; it prints per page the CPU seconds and any message the page showed, and
exits with status 1 when a page failed. Run it with the server's environment (``MBI_HOME``, ``MBI_HOSTED``).

``python -m dashboard.warm --record-views MODEL`` does the same for a shipped model (``default`` or
``fashion-mnist``) on a fresh, empty ``MBI_HOME`` with shipped views off, and keeps what the pages computed beside the
model's weights as its precomputed first views (:mod:`mbi.runs.views`): a hosted copy woken with an empty
``MBI_HOME`` then restores them instead of computing them. Rerun it when the model, its table or a result's format
changes (``tests/test_views.py`` says so).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
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


def warm(pages: list[str] | None = None, timeout_s: float = 3600.0,
         model: str | None = None) -> list[tuple[str, float, list[str]]]:
    """Open each page (default: every page) once in its default state (for ``model``, a name the sidebar offers;
    default: the default model): ``(page, CPU seconds, problems)`` per page (CPU of this process and its child
    processes), where problems are the page's error messages and exceptions (empty when it drew)."""
    at = AppTest.from_file(str(APP), default_timeout=timeout_s)
    if model is not None:
        at.query_params["model"] = model
    at.run()
    done = []
    for page in pages or page_files():
        start = _cpu_s()
        at.switch_page(page)
        at.query_params.clear()
        if model is not None:
            at.query_params["model"] = model
        at.run()
        problems = [str(e.value) for e in at.error] + [str(e.value) for e in at.exception]
        done.append((page, _cpu_s() - start, problems))
    return done


def record_views(model: str) -> Path:
    """Open every page of shipped ``model`` in its default state on a fresh ``MBI_HOME`` (shipped views off, so
    everything is computed) and keep the results as the model's ``views/`` (:func:`mbi.runs.views.record`);
    raises RuntimeError, recording nothing, when a page failed. Returns the ``views/`` folder."""
    from mbi.model.checkpoint import SHIPPED_MODELS, resolve_checkpoint
    from mbi.runs import views

    if model not in SHIPPED_MODELS:
        raise ValueError(f"--record-views takes a shipped model ({', '.join(SHIPPED_MODELS)}), got {model!r}")
    with tempfile.TemporaryDirectory(prefix="mbi-views-") as home:
        saved = {k: os.environ.get(k) for k in ("MBI_HOME", views.VARIABLE)}
        os.environ.update({"MBI_HOME": home, views.VARIABLE: "off"})
        try:
            failed = _report(warm(model=None if model == "default" else model))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        if failed:
            raise RuntimeError("a page failed: nothing recorded")
        folder = resolve_checkpoint(model)
        views.record(home, folder)
    print(f"recorded {folder / views.VIEWS_DIR}: {views.describe(folder)}")
    return folder / views.VIEWS_DIR


def _report(results: list[tuple[str, float, list[str]]]) -> bool:
    """Print one line per page; True when a page failed."""
    failed = False
    for page, seconds, problems in results:
        print(f"{page}: {seconds:.1f} CPU-s" + ("" if not problems else f"; problems: {problems}"), flush=True)
        failed = failed or bool(problems)
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record-views", metavar="MODEL",
                        help="compute a shipped model's default views on a fresh MBI_HOME and keep them beside its "
                             "weights (views/), so a copy with an empty MBI_HOME restores instead of computing them")
    args = parser.parse_args()
    if args.record_views:
        try:
            record_views(args.record_views)
        except (ValueError, RuntimeError) as exc:
            sys.exit(f"error: {exc}")
        return
    sys.exit(1 if _report(warm()) else 0)


if __name__ == "__main__":
    main()
