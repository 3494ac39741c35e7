"""What the RAM saw and decided on a batch (:class:`Trace`), as numpy arrays, and its file on disk.

:func:`mbi.model.ram.trace` makes one with the network (torch); views of it (the Glimpse paths page,
:func:`mbi.inference.paths.compare_paths`) need only numpy, so the class lives here, without torch.
:func:`save_trace` / :func:`load_trace` keep one in an ``.npz`` file (patches of a quantized retina as their
integer levels, 8 bits each; :mod:`mbi.runs.tracecache` decides where).

Shapes: B images, T glimpses, K patches of p x p pixels per glimpse.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from mbi.store import atomic_save_npz

FORMAT_VERSION = 1


@dataclass
class Trace:
    """What the RAM saw and decided on a batch, as numpy arrays for views and reports."""

    centres: np.ndarray  # pixel centre (row, col) of each glimpse [B, T, 2]
    locs: np.ndarray  # grid location of each glimpse [B, T, 2]
    patches: np.ndarray  # quantized patches as the RAM sees them [B, T, K, p, p] in [0, 1]
    readouts: np.ndarray  # class read out from h_t after each glimpse [B, T]
    probs: np.ndarray  # final class probabilities [B, 10]
    prediction: np.ndarray  # final class [B]


def save_trace(path: Path, trace: Trace, patch_levels: int | None) -> None:
    """Write ``trace`` to ``path`` atomically; ``patch_levels`` (the retina's 2**bits levels, None for a float retina)
    stores each patch value as its level ``round(v * (levels - 1))`` in one byte."""
    patches = trace.patches
    if patch_levels is not None:
        patches = np.rint(patches * (patch_levels - 1)).astype(np.uint8)
    atomic_save_npz(path, version=np.int64(FORMAT_VERSION), levels=np.int64(patch_levels or 0),
                    centres=trace.centres.astype(np.int16), locs=trace.locs.astype(np.int16), patches=patches,
                    readouts=trace.readouts.astype(np.int16), probs=trace.probs.astype(np.float32),
                    prediction=trace.prediction.astype(np.int64))


def load_trace(path: Path, rows: slice | None = None) -> Trace:
    """The trace :func:`save_trace` wrote (only images ``rows``, e.g. ``slice(7, 8)``: the rest is read and
    dropped, so a page can keep one image of a large trace); ValueError when ``path`` is missing, damaged or of
    another format."""
    rows = slice(None) if rows is None else rows
    try:
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["version"]) != FORMAT_VERSION:
                raise ValueError(f"format {int(npz['version'])}, expected {FORMAT_VERSION}")
            levels = int(npz["levels"])
            patches = npz["patches"][rows]
            if levels:
                patches = (patches.astype(np.float32) / np.float32(levels - 1)).astype(np.float32)
            trace = Trace(centres=npz["centres"][rows].astype(np.int64), locs=npz["locs"][rows].astype(np.int64),
                          patches=patches, readouts=npz["readouts"][rows].astype(np.int64),
                          probs=npz["probs"][rows], prediction=npz["prediction"][rows])
    except Exception as exc:  # missing file, zip, key or format errors mean the same: compute again
        raise ValueError(f"{path} is not a readable RAM trace ({type(exc).__name__}: {exc})") from exc
    b = len(trace.prediction)
    if any(len(getattr(trace, f.name)) != b for f in fields(trace)):
        raise ValueError(f"{path} is not a readable RAM trace (arrays of different lengths)")
    return trace


__all__ = ["Trace", "load_trace", "save_trace"]
