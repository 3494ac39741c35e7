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

*Without torch in the calling process.* The RAM (torch: about 190 MB of a server's memory once imported)
is needed only to compute what this module keeps. :func:`checkpoint_trace`, :func:`checkpoint_ram_predictions`,
:func:`checkpoint_ram_trace` and :func:`checkpoint_budget_curve` take a checkpoint folder instead of a model:
they read the result from disk, else run ``python -m mbi.runs.tracecache JOB`` (a short-lived child process of
:mod:`mbi.runs.child` that loads the table and the images, and the RAM where the result needs it, computes the result
with :func:`cached_trace`, :func:`mbi.model.ram.trace`, :func:`mbi.model.predict.predict` or
:func:`mbi.inference.tablesize.cached_budget_curve`, saves it where the caller reads it, reports progress on its
stdout and exits, memory and all). Work two pages would repeat is done once: the RAM's classes and its glimpse
trace of the same images come from one pass and are saved together, and the table-size curve leaves the whole
table's lookup traces in ``traces/`` (where :func:`checkpoint_trace` reads them). A failing child
raises :class:`ChildError` with its error text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from mbi.config import RAMConfig, TreeConfig
from mbi.inference.lookup import LookupTrace, StepIndex, lookup_infer
from mbi.memory.lut import LookupTable, table_fingerprint, table_path
from mbi.model.checkpoint import Checkpoint
from mbi.model.ramtrace import Trace
from mbi.model.ramtrace import load_trace as load_ram_trace
from mbi.model.ramtrace import save_trace as save_ram_trace
from mbi.runs import views
from mbi.runs.child import ChildError, report_progress, run_child
from mbi.search.weights import UNWEIGHTED
from mbi.store import artifacts_root, atomic_save_npz, cache_limits, prune_oldest

if TYPE_CHECKING:  # a trace is computed with a loaded model (torch); reading one from disk needs no torch
    from mbi.inference.tablesize import BudgetPoint
    from mbi.model.ram import RAM

RAM_TRACE_VERSION = 1
FIELDS = ("locs", "rows", "distance", "comparisons", "readouts", "queries")
FORMAT_VERSION = 2


def table_ready(checkpoint: str | Path | None | Checkpoint) -> bool:
    """True when :func:`mbi.memory.lut.cached_table` of the full table loads from a file (no distilling)."""
    ckpt = Checkpoint.of(checkpoint)
    return (ckpt.folder / "table.npz").is_file() or table_path(ckpt, recipe=ckpt.lookup.table).is_file()


def trace_images(model: RAM | RAMConfig, table: LookupTable, images: np.ndarray, index: StepIndex,
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


def _file_part(images: str) -> str:
    """``images`` (e.g. ``"test:500"``) as a file-name part: letters, digits, ``-`` and ``_`` only, 40 at most."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in images)[:40]


def trace_name(table: LookupTable, weights: Sequence[float], kind: str, tree: TreeConfig | None, images: str) -> str:
    """File name of a cached trace: readable prefix plus a digest of every setting it depends on."""
    tree = (tree or TreeConfig()) if kind == "tree" else None  # what StepIndex searches with
    settings = {"format": FORMAT_VERSION, "table": table_fingerprint(table),
                "weights": [round(float(w), 12) for w in weights], "kind": kind,
                "tree": None if tree is None else tree.to_dict(), "images": images}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    safe = _file_part(images)
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


def cached_trace(model: RAM | RAMConfig, table: LookupTable, images: np.ndarray, images_id: str,
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
    if views.restore(path, root):
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


def ram_predictions_path(checkpoint: str | Path | Checkpoint, images: str, root: Path | None = None) -> Path:
    """Where :func:`checkpoint_ram_predictions` keeps the RAM's classes of ``images`` (e.g. ``"test:500"``)."""
    safe = _file_part(images)
    return (root or artifacts_root()) / "traces" / f"{Checkpoint.of(checkpoint).hash}-ram-{safe}-v{FORMAT_VERSION}.npz"


def ram_logits_path(checkpoint: str | Path | Checkpoint, images: str, root: Path | None = None) -> Path:
    """Where :func:`checkpoint_ram_logits` keeps the RAM's class scores of ``images`` (e.g. ``"test:500"``)."""
    safe = _file_part(images)
    return (root or artifacts_root()) / "traces" / f"{Checkpoint.of(checkpoint).hash}-ramlogits-{safe}-v1.npz"


def _load_array(path: Path, name: str) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz[name]
    except Exception:  # missing, zip or key errors mean the same: compute again
        return None


def _run_child(job: dict, progress: Callable[[float, str], None] | None) -> None:
    """Run ``job`` in ``python -m mbi.runs.tracecache JOB`` (:func:`mbi.runs.child.run_child`: bounded, errors as
    :class:`ChildError`)."""
    what = {"trace": "the lookup pass", "ram": "the RAM pass", "ramtrace": "the RAM's glimpse trace",
            "budget": "the table-size pass"}[job["what"]]
    waiting = (lambda: progress(0.0, "waiting for another computation to finish")) if progress else None
    run_child("mbi.runs.tracecache", [json.dumps(job)], what, progress, waiting)


def ram_trace_path(checkpoint: str | Path | Checkpoint, images: str, root: Path | None = None) -> Path:
    """Where :func:`checkpoint_ram_trace` keeps the RAM's :class:`mbi.model.ramtrace.Trace` of ``images``."""
    safe = _file_part(images)
    return ((root or artifacts_root()) / "traces"
            / f"{Checkpoint.of(checkpoint).hash}-ramtrace-{safe}-v{RAM_TRACE_VERSION}.npz")


def checkpoint_ram_trace(checkpoint: str | Path | Checkpoint, split: str, count: int, rows: slice | None = None,
                         progress: Callable[[float, str], None] | None = None, root: Path | None = None) -> Trace:
    """The RAM's glimpse-by-glimpse :class:`mbi.model.ramtrace.Trace` (:func:`mbi.model.ram.trace`) of the first
    ``count`` images of ``split`` (only images ``rows`` of them when given), from ``traces/`` on disk or computed in
    a child process: what the Glimpse paths page shows for a test digit without torch in the server."""
    path = ram_trace_path(checkpoint, f"{split}:{int(count)}", root)
    views.restore(path, root)
    try:
        return load_ram_trace(path, rows)
    except ValueError:  # not computed yet, or damaged: compute it
        pass
    _run_child(_job("ramtrace", checkpoint, None, root, split=split, count=int(count)), progress)
    return load_ram_trace(path, rows)


def _job(what: str, checkpoint: str | Path, table: LookupTable | None, root: Path | None, **fields: Any) -> dict:
    return {"what": what, "checkpoint": str(Checkpoint.of(checkpoint).folder),
            "table": None if table is None else table_fingerprint(table),
            "root": str(root or artifacts_root()), **fields}


def checkpoint_trace(checkpoint: str | Path | Checkpoint, table: LookupTable, split: str, count: int,
                     weights: Sequence[float] = UNWEIGHTED, kind: str = "brute", tree: TreeConfig | None = None,
                     progress: Callable[[float, str], None] | None = None, root: Path | None = None) -> LookupTrace:
    """:func:`cached_trace` of the first ``count`` images of ``split`` of the checkpoint's dataset with its RAM, from
    disk or computed in a child process (``table``: the checkpoint's full table, :func:`mbi.memory.lut.cached_table`)."""
    path = trace_path(table, weights, kind, tree, f"{split}:{int(count)}", root)
    views.restore(path, root)
    try:
        return load_trace(path)
    except ValueError:  # not computed yet, or damaged: compute it
        pass
    _run_child(_job("trace", checkpoint, table, root, split=split, count=int(count),
                    weights=[float(w) for w in weights], kind=kind, tree=None if tree is None else tree.to_dict()),
               progress)
    return load_trace(path)


def _ram_pass_result(checkpoint: str | Path | Checkpoint, path: Path, name: str, split: str, count: int,
                     root: Path | None) -> np.ndarray:
    """Array ``name`` of the RAM-pass file ``path`` (:func:`_ram_pass` writes them all): restored from the shipped
    views or read from ``traces/``, else computed by one RAM pass in a child process."""
    views.restore(path, root)
    found = _load_array(path, name)
    if found is None:
        _run_child(_job("ram", checkpoint, None, root, split=split, count=int(count)), None)
        found = _load_array(path, name)
        if found is None:
            raise ChildError(f"the child process wrote no readable RAM {name} to {path}")
    return found


def checkpoint_ram_predictions(checkpoint: str | Path | Checkpoint, split: str, count: int,
                               root: Path | None = None) -> np.ndarray:
    """The RAM's classes (``int64 [count]``, :func:`mbi.model.predict.predict`) of the first ``count`` images of
    ``split``, from ``traces/`` on disk or computed in a child process."""
    return _ram_pass_result(checkpoint, ram_predictions_path(checkpoint, f"{split}:{int(count)}", root), "classes",
                            split, count, root)


def checkpoint_ram_logits(checkpoint: str | Path | Checkpoint, split: str, count: int,
                          root: Path | None = None) -> np.ndarray:
    """The RAM's class scores (``float32 [count, classes]``, :func:`mbi.model.predict.class_logits`; their argmax is
    :func:`checkpoint_ram_predictions`) of the first ``count`` images of ``split``, from ``traces/`` on disk or
    computed in a child process (the same RAM pass)."""
    return _ram_pass_result(checkpoint, ram_logits_path(checkpoint, f"{split}:{int(count)}", root), "logits",
                            split, count, root)


def checkpoint_budget_curve(checkpoint: str | Path | Checkpoint, table: LookupTable, split: str, count: int,
                            budgets: Sequence[int], weightings: Mapping[str, Sequence[float]],
                            progress: Callable[[float, str], None] | None = None,
                            root: Path | None = None) -> list[BudgetPoint]:
    """:func:`mbi.inference.tablesize.cached_budget_curve` on the first ``count`` images of ``split`` with the
    checkpoint's RAM as the retina, from disk or computed in a child process."""
    from mbi.inference.tablesize import budget_curve_path, read_budget_curve

    path = budget_curve_path(table, f"{split}:{int(count)}", budgets, weightings, root)
    views.restore(path, root)
    points = read_budget_curve(path)
    if points is None:
        _run_child(_job("budget", checkpoint, table, root, split=split, count=int(count),
                        budgets=[int(b) for b in budgets],
                        weightings={k: [float(w) for w in v] for k, v in weightings.items()}), progress)
        points = read_budget_curve(path)
        if points is None:
            raise ChildError(f"the child process wrote no readable table-size curve to {path}")
    return points


def _ram_pass(ckpt: Checkpoint, images: np.ndarray, images_id: str, root: Path) -> None:
    """One pass of the RAM over ``images`` (``uint8 [B, 28, 28]``) saving all the pages ask the RAM for: its class
    scores and classes (:func:`mbi.model.predict.class_logits` and their argmax, :func:`mbi.model.predict.predict`'s:
    the same batches, the same logits) and its glimpse trace (:func:`mbi.model.ram.trace` of the same episodes), so
    what is asked for next is read from disk."""
    import torch

    from mbi.model.predict import PREDICT_BATCH, images_to_tensor
    from mbi.model.ram import episode_trace

    model = ckpt.model
    model.eval()
    logits, parts = [], []
    with torch.no_grad():
        for start in range(0, len(images), PREDICT_BATCH):
            episode = model(images_to_tensor(images[start: start + PREDICT_BATCH]))
            logits.append(episode.logits.numpy())
            parts.append(episode_trace(model, episode))
            report_progress(min(1.0, (start + PREDICT_BATCH) / max(1, len(images))), "RAM glimpses")
    bits = model.cfg.patch_bits
    whole = Trace(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(Trace)))
    save_ram_trace(ram_trace_path(ckpt, images_id, root), whole, None if bits is None else 2**bits)
    scores = np.concatenate(logits)
    atomic_save_npz(ram_logits_path(ckpt, images_id, root), logits=scores)
    atomic_save_npz(ram_predictions_path(ckpt, images_id, root), classes=scores.argmax(axis=1).astype(np.int64))


def _budget_job(retina: RAMConfig, table: LookupTable, images: np.ndarray, labels: np.ndarray, images_id: str,
                job: dict, root: Path) -> None:
    """The table-size curve of ``job``; the whole table's lookup trace of each weighting is shared with
    :func:`cached_trace` (the brute-force trace of the same images): read from ``traces/`` when there, else
    saved there, so a page asking for that trace next reads it."""
    from mbi.inference.tablesize import cached_budget_curve

    paths = {name: trace_path(table, weights, "brute", None, images_id, root)
             for name, weights in job["weightings"].items()}
    full: dict[str, LookupTrace] = {}
    for name, path in paths.items():
        try:
            trace = load_trace(path)
        except ValueError:  # not computed yet, or damaged
            continue
        if len(trace.rows) == len(images):
            full[name] = trace
    known = set(full)
    cached_budget_curve(retina, table, images, labels, images_id, job["budgets"], job["weightings"],
                        progress=report_progress, root=root, full_traces=full)
    for name in set(full) - known:
        save_trace(full[name], paths[name])
        prune_oldest(paths[name].parent, *cache_limits(), keep=paths[name], pattern="*.npz")


def _main(job: dict) -> None:
    """The child's work: load the images of ``job`` and the RAM or the table it needs, and save what it asks for."""
    from mbi.memory.lut import cached_table

    ckpt = Checkpoint(job["checkpoint"])
    root = Path(job["root"])
    images, labels = ckpt.data().split(job["split"])
    images, labels = images[: job["count"]], labels[: job["count"]]
    images_id = f"{job['split']}:{job['count']}"

    if job["what"] in ("ram", "ramtrace"):
        _ram_pass(ckpt, images, images_id, root)
        return
    table = cached_table(ckpt)
    if table_fingerprint(table) != job["table"]:
        raise ValueError(f"the table of {ckpt.folder} is not the one the caller holds (it changed on disk): reload")
    retina = ckpt.config.ram  # lookups read glimpses with the configuration's sensor: no RAM, no torch here
    if job["what"] == "trace":
        tree = None if job["tree"] is None else TreeConfig.from_dict(job["tree"])
        cached_trace(retina, table, images, images_id, job["weights"], job["kind"], tree,
                     progress=report_progress, root=root)
    elif job["what"] == "budget":
        _budget_job(retina, table, images, labels, images_id, job, root)
    else:
        raise ValueError(f"unknown job {job['what']!r}")


__all__ = ["ChildError", "cached_trace", "checkpoint_budget_curve", "checkpoint_ram_logits", "checkpoint_ram_predictions",
           "checkpoint_ram_trace", "ram_logits_path",
           "checkpoint_trace", "load_trace", "ram_predictions_path", "ram_trace_path", "save_trace", "table_ready",
           "trace_images", "trace_name", "trace_path"]

if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))
