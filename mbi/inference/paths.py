"""The RAM's path and the lookup's path on one digit, glimpse by glimpse, and where they part ways.

The RAM computes each step; lookup-only MBI replaces each step by the nearest table row, whose stored
next location and hidden state feed the next step. Both start from the same location, so they read the
same first cell; after that the lookup may be sent elsewhere. :func:`compare_paths` lines the two up
(one image of a :class:`mbi.model.ramtrace.Trace` and of a :class:`mbi.inference.lookup.LookupTrace`):
per step the cell each read, the class each would answer, the matched row, its distance and the
training image it was first met on; the first step where they read different cells and the first
where they answer differently; and, given the model's mixed-MBI threshold, whether mixed MBI would
have answered this digit by lookup (:func:`mbi.inference.lookup.mixed_predictions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mbi.inference.lookup import LookupTrace
from mbi.inference.mixed import mixed_predictions
from mbi.model.ramtrace import Trace


@dataclass(frozen=True)
class PathStep:
    """One glimpse step of both paths (``step`` counts from 1)."""

    step: int
    ram_cell: tuple[int, int]  # grid cell (row, col) the RAM read
    lookup_cell: tuple[int, int]  # grid cell the lookup read (the previous matched row's next location)
    ram_class: int  # class read out from the RAM's hidden state after this step
    lookup_class: int  # class stored in the matched row
    row: int  # matched table row
    distance: float  # its eq. (1) distance
    training_image: int  # index into the training split of the image that first produced the row
    over_threshold: bool | None  # distance above the mixed-MBI threshold (None: no threshold)

    @property
    def same_cell(self) -> bool:
        return self.ram_cell == self.lookup_cell


@dataclass(frozen=True)
class PathComparison:
    """Both paths of one digit and the verdicts a class demo asks about."""

    steps: list[PathStep]
    ram_prediction: int  # the RAM's answer (final class probabilities)
    lookup_prediction: int  # lookup-only MBI's answer (the last matched row's class)
    threshold: float | None  # the mixed-MBI threshold used (the model's recorded one)
    first_cell_split: int | None  # first step (1-based) where the two read different cells; None = never
    first_class_split: int | None  # first step where their class readouts differ; None = never
    by_lookup: bool | None  # would mixed MBI answer by lookup (every distance <= threshold); None: no threshold
    mixed_prediction: int | None  # mixed MBI's answer; None without a threshold

    @property
    def first_over(self) -> int | None:
        """First step whose match is too far for mixed MBI (the reason it falls back), or None."""
        return next((s.step for s in self.steps if s.over_threshold), None)


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) + 1 if len(hits) else None


def compare_paths(ram: Trace, lookup: LookupTrace, sources: np.ndarray, threshold: float | None = None,
                  image: int = 0) -> PathComparison:
    """Line up image ``image`` of the RAM's ``ram`` trace and the lookup's ``lookup`` trace.

    ``sources`` is the table's ``source`` column (``int [N]``: the training image of each row);
    ``threshold`` the mixed-MBI distance threshold (the model's ``lookup.json``), or None.
    """
    if ram.locs.shape[1] != lookup.locs.shape[1]:
        raise ValueError(f"the RAM took {ram.locs.shape[1]} glimpses but the lookup {lookup.locs.shape[1]}")
    if not 0 <= image < min(len(ram.prediction), len(lookup.prediction)):
        raise ValueError(f"image {image} is not in both traces")
    ram_cells = np.asarray(ram.locs[image], dtype=np.int64)
    lookup_cells = np.asarray(lookup.locs[image], dtype=np.int64)
    rows = np.asarray(lookup.rows[image], dtype=np.int64)
    distance = np.asarray(lookup.distance[image], dtype=np.float64)
    over = None if threshold is None else distance > float(threshold)
    steps = [PathStep(step=t + 1, ram_cell=(int(ram_cells[t, 0]), int(ram_cells[t, 1])),
                      lookup_cell=(int(lookup_cells[t, 0]), int(lookup_cells[t, 1])),
                      ram_class=int(ram.readouts[image, t]), lookup_class=int(lookup.readouts[image, t]),
                      row=int(rows[t]), distance=float(distance[t]), training_image=int(sources[rows[t]]),
                      over_threshold=None if over is None else bool(over[t]))
             for t in range(len(rows))]
    ram_prediction = int(ram.prediction[image])
    by_lookup = mixed = None
    if threshold is not None:
        one = LookupTrace(*(np.asarray(getattr(lookup, f))[image: image + 1]
                            for f in ("locs", "rows", "distance", "comparisons", "readouts", "queries")))
        answer, mask = mixed_predictions(one, np.array([ram_prediction]), float(threshold))
        by_lookup, mixed = bool(mask[0]), int(answer[0])
    return PathComparison(
        steps=steps, ram_prediction=ram_prediction, lookup_prediction=int(lookup.prediction[image]),
        threshold=None if threshold is None else float(threshold),
        first_cell_split=_first((ram_cells != lookup_cells).any(axis=1)),
        first_class_split=_first(np.asarray(ram.readouts[image]) != np.asarray(lookup.readouts[image])),
        by_lookup=by_lookup, mixed_prediction=mixed)


__all__ = ["PathComparison", "PathStep", "compare_paths"]
