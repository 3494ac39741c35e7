"""Short-lived child processes for heavy work: one owner for how they start, how many run at once and how their
errors come back.

A server hands work that needs torch (the RAM's passes, ``mbi.runs.tracecache``) or much transient memory (k-means
trees, ``mbi.runs.treecache``) to ``python -m MODULE ARGS...``: the child loads what it needs, saves its result where
the caller reads it, reports progress as lines ``progress FRACTION MESSAGE`` on its stdout, and exits, memory and
all. Each child costs its own imports and arrays (a RAM pass: about 300-400 MB while it runs) and already uses
every core (the search engine's threads), so at most ``MBI_MAX_CHILDREN`` of them run at once in one process
(default 1); a caller over the limit waits for its turn (its ``waiting`` callback says so). No streamlit here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence

from mbi.validate import env_int

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
"""The folder holding the ``mbi`` package, put on a child's ``PYTHONPATH``."""


class ChildError(RuntimeError):
    """A child process failed; the message quotes the last line of its error text."""


def max_children(env: dict[str, str] | None = None) -> int:
    """How many child processes may run at once: ``MBI_MAX_CHILDREN``, else 1."""
    return env_int(dict(os.environ if env is None else env), "MBI_MAX_CHILDREN", 1)


_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def _slots_for(limit: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        return _slots.setdefault(limit, threading.BoundedSemaphore(limit))


def _last_error_line(text: str) -> str:
    """``"package.SomeError: message"`` (the last line of a traceback) -> ``"message"``."""
    last = text.strip().splitlines()[-1] if text.strip() else "no error text"
    name, sep, message = last.partition(": ")
    return message if sep and name.replace(".", "").replace("_", "").isalnum() else last


def run_child(module: str, args: Sequence[str], what: str,
              progress: Callable[[float, str], None] | None = None,
              waiting: Callable[[], None] | None = None, env_defaults: Mapping[str, str] | None = None) -> None:
    """Run ``python -m module *args`` once a slot is free (:func:`max_children`), pass its ``progress F MESSAGE``
    lines on to ``progress``; raise :class:`ChildError` naming ``what`` (e.g. "the RAM pass") and quoting the
    child's error when it exits with a non-zero status. ``waiting`` is called once if the caller must wait.
    ``env_defaults``: environment variables of the child where this process's environment does not set them."""
    slots = _slots_for(max_children())
    if not slots.acquire(blocking=False):
        if waiting:
            waiting()
        slots.acquire()
    try:
        path = os.pathsep.join([str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        errors = tempfile.TemporaryFile(mode="w+")
        env = {**(env_defaults or {}), **os.environ, "PYTHONPATH": path}
        child = subprocess.Popen([sys.executable, "-m", module, *args], env=env,
                                 stdout=subprocess.PIPE, stderr=errors, text=True)
    except BaseException:
        slots.release()
        raise
    try:
        assert child.stdout is not None
        for line in child.stdout:
            parts = line.rstrip("\n").split(" ", 2)
            if progress and len(parts) >= 2 and parts[0] == "progress":
                try:
                    fraction = float(parts[1])
                except ValueError:
                    continue
                progress(fraction, parts[2] if len(parts) > 2 else "")
    except BaseException:
        # The caller gave up (e.g. the page's script was stopped by a rerun inside ``progress``): the child still
        # finishes and saves its result for the next caller, and keeps its slot until then, so the bound holds.
        threading.Thread(target=_finish, args=(child, errors, slots), daemon=True).start()
        raise
    code, text = _finish(child, errors, slots)
    if code != 0:
        raise ChildError(f"{what} in a child process failed (exit status {code}): {_last_error_line(text)}")


def _finish(child: subprocess.Popen, errors: IO[str], slots: threading.BoundedSemaphore) -> tuple[int, str]:
    """Read the rest of ``child``'s output, wait for it, free its slot: (exit status, error text)."""
    try:
        assert child.stdout is not None
        for _ in child.stdout:  # a child blocked on a full pipe would never end
            pass
        code = child.wait()
        errors.seek(0)
        return code, errors.read()
    finally:
        errors.close()
        slots.release()


def report_progress(fraction: float, message: str = "") -> None:
    """In a child: tell the parent how far the work is (a ``progress`` line on stdout)."""
    print(f"progress {fraction:.4f} {message}", flush=True)


__all__ = ["ChildError", "PACKAGE_ROOT", "max_children", "report_progress", "run_child"]
