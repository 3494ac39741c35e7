"""Get a checkpoint's images, table and compiled kernels ready in the background, before a page asks for them.

A server woken with an empty ``$MBI_HOME`` (and, on a fresh deploy, no numba cache) pays three things on the first
page that shows a lookup: the dataset's first decode into its uint8 copy (about 3 s, :func:`mbi.data.load_dataset`),
the table's mapped copy (about 1 s, :func:`mbi.memory.lut.cached_table`) and, the first time ever, compiling the
sensor's and the search's numba kernels (about 16 CPU-s on 2 cores; ``cache=True`` keeps them on disk afterwards).
None of it is needed by the Overview's first view. :func:`prepare_in_background` runs ``python -m mbi.runs.prepare
FOLDER`` in a short-lived child (:func:`mbi.runs.child.run_child`: it takes one of the bounded child slots, so a
page's own child waits rather than piling up memory), from a daemon thread, so a visitor reading the Overview for a
few seconds finds the next page's inputs on disk. The child decodes, maps, builds the table's exact index with the
recorded weights and looks up one test image (which compiles and caches every kernel a lookup uses), then exits,
memory and all. It is safe beside a page doing the same: the copies are built under a lock, once.
``MBI_PREPARE=off`` turns it off (the test suite does: its pages load what they need themselves).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from mbi.model.checkpoint import Checkpoint
from mbi.validate import env_switch

VARIABLE = "MBI_PREPARE"
"""Set to ``off`` to start no background preparation."""

_started: dict[str, threading.Thread] = {}
_lock = threading.Lock()


def prepare(checkpoint: str | Path | Checkpoint) -> list[str]:
    """In this process: the checkpoint's dataset (its uint8 copy), its full table when it has one (the mapped copy)
    and one lookup of its first test image with the recorded weights (the numba kernels compiled and cached).
    Returns what was done, in order (for the log)."""
    from mbi.data import load_dataset
    from mbi.runs.tracecache import table_ready

    ckpt = Checkpoint.of(checkpoint)
    data = load_dataset(ckpt.dataset)
    done = ["images"]
    ram = ckpt.config.ram
    if ram.patch_bits is None or ram.hidden_bits is None or not table_ready(ckpt):
        return done  # nothing to look up with (float model, or a table not distilled yet)
    from mbi.inference.lookup import StepIndex, lookup_infer
    from mbi.memory.lut import cached_table

    table = cached_table(ckpt)
    done.append("table")
    lookup_infer(ram, table, data.test_x[:1], index=StepIndex(table, ckpt.lookup.weights))
    done.append("kernels")
    return done


def prepare_in_background(checkpoint: str | Path | Checkpoint) -> threading.Thread | None:
    """Start :func:`prepare` of ``checkpoint`` in a child process, from a daemon thread, once per process and
    checkpoint folder (a second call returns the first call's thread; None when ``$MBI_PREPARE`` is off). A failure
    is ignored: the page that needs the inputs then loads them itself and reports the reason."""
    from mbi.data import DECODE_HERE
    from mbi.runs.child import ChildError, run_child

    if not env_switch(os.environ, VARIABLE):
        return None
    folder = str(Checkpoint.of(checkpoint).folder)

    def work() -> None:
        try:
            # The child decodes the images itself (not in a grandchild of its own): one process fewer.
            run_child("mbi.runs.prepare", [folder], "preparing the images and the table",
                      env_defaults={DECODE_HERE: "1"})
        except ChildError:
            pass

    with _lock:
        thread = _started.get(folder)
        if thread is None:
            thread = _started[folder] = threading.Thread(target=work, name="mbi-prepare", daemon=True)
            thread.start()
    return thread


def wait_for(checkpoint: str | Path | Checkpoint, timeout_s: float | None = None) -> bool:
    """Wait until the background preparation of ``checkpoint`` started in this process (if any) has ended, at most
    ``timeout_s``: a page that needs the images or the table then reads them (and the compiled kernels) from disk
    instead of building them a second time beside the child (twice the CPU, and the compiler's memory kept in the
    server). True when none is running any more."""
    with _lock:
        thread = _started.get(str(Checkpoint.of(checkpoint).folder))
    if thread is None or not thread.is_alive():
        return True
    thread.join(timeout_s)
    return not thread.is_alive()


def running(checkpoint: str | Path | Checkpoint) -> bool:
    """Whether a background preparation of ``checkpoint`` started in this process is still running."""
    with _lock:
        thread = _started.get(str(Checkpoint.of(checkpoint).folder))
    return thread is not None and thread.is_alive()


__all__ = ["VARIABLE", "prepare", "prepare_in_background", "running", "wait_for"]

if __name__ == "__main__":
    print("prepared", ",".join(prepare(sys.argv[1])), flush=True)
