"""Lookup traces computed once, with progress, and kept on disk.

A lookup-only pass over many images is the expensive step behind every lookup
view (a brute-force search of the whole table for 1,000 images takes tens of
seconds on 2 cores), while everything a dashboard slider moves afterwards
(threshold, class, example) is cheap array work on the trace. :func:`trace_images`
runs :func:`mbi.inference.lookup.lookup_infer` in chunks and reports progress;
:func:`cached_trace` also keeps the result in ``$MBI_HOME/traces/`` under a name
made of everything it depends on (the table's fingerprint, weights, search
settings, images), so a restarted server does not search again; the folder is capped (oldest files
go first) at ``$MBI_DISK_CACHE_MB`` megabytes and ``$MBI_DISK_CACHE_FILES`` files (:func:`mbi.store.cache_limits`).
:func:`table_ready` says whether a checkpoint's table loads without distilling.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.inference.lookup import LookupTrace, StepIndex, lookup_infer
from mbi.memory.lut import LookupTable, table_fingerprint, table_path
from mbi.model.checkpoint import Checkpoint
from mbi.search.weights import UNWEIGHTED
from mbi.store import artifacts_root, atomic_save_npz, cache_limits, prune_oldest

if TYPE_CHECKING:  # a trace is computed with a loaded model (torch); reading one from disk needs no torch
    from mbi.model.ram import RAM

FIELDS = ("locs", "rows", "distance", "comparisons", "readouts", "queries")
FORMAT_VERSION = 2


def table_ready(checkpoint: str | Path | None | Checkpoint) -> bool:
    """True when :func:`mbi.memory.lut.cached_table` of the full table loads from a file (no distilling)."""
    ckpt = Checkpoint.of(checkpoint)
    return (ckpt.folder / "table.npz").is_file() or table_path(ckpt, recipe=ckpt.lookup.table).is_file()


def trace_images(model: RAM, table: LookupTable, images: np.ndarray, index: StepIndex,
                 progress: Callable[[float], None] | None = None, chunk: int = 100) -> LookupTrace:
    """:func:`mbi.inference.lookup.lookup_infer` over ``images`` in chunks of ``chunk``, calling ``progress(fraction)``."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if len(images) == 0:
        raise ValueError("no images to look up")
    parts = []
    for start in range(0, len(images), chunk):
        parts.append(lookup_infer(model, table, images[start: start + chunk], index=index))
        if progress:
            progress(min(1.0, (start + chunk) / len(images)))
    return LookupTrace(*(np.concatenate([getattr(p, f) for p in parts]) for f in FIELDS))


def trace_name(table: LookupTable, weights: Sequence[float], kind: str, tree: TreeConfig | None, images: str) -> str:
    """File name of a cached trace: readable prefix plus a digest of every setting it depends on."""
    tree = (tree or TreeConfig()) if kind == "tree" else None  # what StepIndex searches with
    settings = {"format": FORMAT_VERSION, "table": table_fingerprint(table),
                "weights": [round(float(w), 12) for w in weights], "kind": kind,
                "tree": None if tree is None else tree.to_dict(), "images": images}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in images)[:40]
    return f"{table.model_hash}-{kind}-{safe}-{digest}.npz"


def trace_path(table: LookupTable, weights: Sequence[float], kind: str, tree: TreeConfig | None, images: str,
               root: Path | None = None) -> Path:
    """Where :func:`cached_trace` keeps this trace (``$MBI_HOME/traces/`` unless ``root``)."""
    return (root or artifacts_root()) / "traces" / trace_name(table, weights, kind, tree, images)


def save_trace(trace: LookupTrace, path: str | Path) -> Path:
    """Write a trace as ``.npz`` (atomic, no pickle)."""
    return atomic_save_npz(path, **{f: getattr(trace, f) for f in FIELDS})


def load_trace(path: str | Path) -> LookupTrace:
    """Read a trace written by :func:`save_trace` (ValueError if the file is damaged)."""
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            trace = LookupTrace(*(npz[f] for f in FIELDS))
    except Exception as exc:  # zip and key errors mean the same: recompute
        raise ValueError(f"{path} is not a valid lookup trace ({type(exc).__name__})") from exc
    n = len(trace.rows)
    if any(len(getattr(trace, f)) != n for f in FIELDS):
        raise ValueError(f"{path} is not a valid lookup trace (arrays of different lengths)")
    return trace


def cached_trace(model: RAM, table: LookupTable, images: np.ndarray, images_id: str,
                 weights: Sequence[float] = UNWEIGHTED, kind: str = "brute", tree: TreeConfig | None = None,
                 index: StepIndex | None = None, progress: Callable[[float], None] | None = None,
                 root: Path | None = None) -> LookupTrace:
    """The lookup trace of ``images`` (named ``images_id``, e.g. ``"test:500"``), from disk or computed and saved.

    ``index`` (a :class:`StepIndex` of ``table`` with ``weights``, ``kind`` and ``tree``) is
    built when not given. A damaged cache file is recomputed.
    """
    if index is not None and tuple(index.weights) != tuple(float(w) for w in weights):
        raise ValueError(f"index weights {index.weights} differ from weights {tuple(weights)}")
    path = trace_path(table, weights, kind, tree, images_id, root)
    if path.is_file():
        try:
            trace = load_trace(path)
            if len(trace.rows) == len(images):
                return trace
        except ValueError:
            pass
    if index is None:
        index = StepIndex(table, weights, kind, tree=tree)
    trace = trace_images(model, table, images, index, progress)
    save_trace(trace, path)
    prune_oldest(path.parent, *cache_limits(), keep=path, pattern="*.npz")
    return trace


__all__ = ["cached_trace", "load_trace", "save_trace", "table_ready", "trace_images",
           "trace_name", "trace_path"]
