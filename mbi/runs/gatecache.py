"""The learned gate's inputs over many images, computed once and kept on disk.

A gate needs, beside the lookup trace (:mod:`mbi.runs.tracecache`), the exact ``k`` nearest rows of
every step's query (:func:`mbi.inference.gate.step_neighbours`): a second exhaustive search as costly
as the lookup itself. :func:`cached_neighbours` keeps them beside the trace in ``$MBI_HOME/traces/``
under the trace's name plus ``-knnK``; :func:`gate_scores` turns a trace into a gate's per-image scores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.inference.gate import LearnedGate, Neighbours, gate_features, step_neighbours
from mbi.inference.lookup import LookupTrace
from mbi.memory.lut import LookupTable
from mbi.runs.tracecache import trace_path
from mbi.store import atomic_save_npz


def neighbours_path(table: LookupTable, weights: Sequence[float], kind: str, tree: TreeConfig | None, images: str, k: int,
                    root: Path | None = None) -> Path:
    """Where :func:`cached_neighbours` keeps the neighbours of the trace with these settings."""
    path = trace_path(table, weights, kind, tree, images, root)
    return path.with_name(f"{path.stem}-knn{k}.npz")


def cached_neighbours(table: LookupTable, weights: Sequence[float], trace: LookupTrace, images: str, k: int,
                      kind: str = "brute", tree: TreeConfig | None = None, progress: Callable[[float], None] | None = None,
                      root: Path | None = None) -> Neighbours:
    """:func:`step_neighbours` of ``trace``'s queries (``images`` names them, as for the trace), from disk or computed."""
    path = neighbours_path(table, weights, kind, tree, images, k, root)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as npz:
                found = Neighbours(npz["rows"], npz["distance"])
            if found.rows.shape == (*trace.distance.shape, k) and found.distance.shape == found.rows.shape:
                return found
        except Exception:  # a damaged cache file is recomputed
            pass
    found = step_neighbours(table, weights, trace.queries, k, progress)
    atomic_save_npz(path, rows=found.rows, distance=found.distance)
    return found


def gate_scores(gate: str, trace: LookupTrace, neighbours: Neighbours | None = None, table: LookupTable | None = None,
                train_labels: np.ndarray | None = None, learned: LearnedGate | None = None) -> np.ndarray:
    """Per-image score of ``gate`` (lower = answer by lookup): the largest matched distance or P(wrong)."""
    if gate == "distance":
        return trace.max_distance.astype(np.float64)
    if gate != "learned":
        raise ValueError(f"gate must be 'distance' or 'learned', got {gate!r}")
    if learned is None or neighbours is None or table is None or train_labels is None:
        raise ValueError("the learned gate needs a fitted gate, the neighbours, the table and the training labels")
    return learned.score(gate_features(trace, neighbours, table, train_labels, learned.features))
