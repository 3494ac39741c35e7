"""Mixed MBI (paper Fig. 5): the threshold rule, its curve, its choice, and why images fell back.

Mixed MBI answers an image by lookups when every glimpse step's matched distance is <= the
threshold, else by the RAM (:func:`mixed_predictions`). Given a
:class:`mbi.inference.lookup.LookupTrace` (computed once), everything here is cheap array work,
so a dashboard slider can move the threshold freely:

* :func:`mixed_curve`: accuracy and lookup share per threshold; :func:`mixed_point`: at one;
* :func:`threshold_candidates`: quantiles of the per-image largest distance;
* :func:`choose_threshold`: the largest lookup share reaching an accuracy (on validation);
* :func:`default_threshold`: where a threshold control opens (the recorded one, else the paper's share);
* :func:`curve_thresholds`: the thresholds where the curve can change (0, the
  quantiles of the per-image largest distance, the largest distance);
* :func:`share_threshold`: the smallest threshold answering a given share by lookup;
* :func:`class_breakdown`: the same numbers per true class;
* :func:`fallbacks`: for every image the RAM answered, the *first* glimpse step
  whose matched distance exceeded the threshold (the reason), that distance,
  and how many steps were over; :func:`fallback_steps` counts them per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

if TYPE_CHECKING:  # the trace type only; mbi.inference.lookup imports this module
    from mbi.inference.lookup import LookupTrace

NUM_CLASSES = 10
PAPER_LOOKUP_SHARE = 0.6965
"""Share of test images the paper's mixed MBI answers by lookup (Table I, 93.04% accuracy)."""


@dataclass
class MixedPoint:
    """Mixed MBI at one threshold."""

    threshold: float
    accuracy: float
    lookup_share: float  # share of images answered by lookups only
    lookup_accuracy: float | None  # accuracy on the images answered by lookup (None if none)
    ram_accuracy: float | None  # accuracy on the images the RAM answered (None if none)


def mixed_predictions(trace: LookupTrace, ram_pred: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Mixed-MBI classes and the mask of images answered by lookup at ``threshold``."""
    by_lookup = trace.max_distance <= threshold
    return np.where(by_lookup, trace.prediction, ram_pred), by_lookup


def mixed_curve(trace: LookupTrace, ram_pred: np.ndarray, labels: np.ndarray,
                thresholds: Sequence[float]) -> list[MixedPoint]:
    """Accuracy and lookup share of mixed MBI for each threshold (Fig. 5)."""
    labels = np.asarray(labels)
    points = []
    for thr in thresholds:
        pred, mask = mixed_predictions(trace, ram_pred, float(thr))
        correct = pred == labels
        points.append(MixedPoint(
            float(thr), float(correct.mean()), float(mask.mean()),
            float(correct[mask].mean()) if mask.any() else None,
            float(correct[~mask].mean()) if (~mask).any() else None,
        ))
    return points


def threshold_candidates(trace: LookupTrace, count: int = 60) -> list[float]:
    """Distinct thresholds worth trying: quantiles of the per-image largest matched distance."""
    return sorted({float(v) for v in np.quantile(trace.max_distance, np.linspace(0, 1, count))})


def choose_threshold(points: Sequence[MixedPoint], min_accuracy: float) -> MixedPoint | None:
    """The point with the largest lookup share whose accuracy is at least ``min_accuracy`` (None if none)."""
    ok = [p for p in points if p.accuracy >= min_accuracy]
    return max(ok, key=lambda p: (p.lookup_share, -p.threshold)) if ok else None


@dataclass(frozen=True)
class DefaultThreshold:
    """Where a threshold control opens, its upper end, and why (a short phrase)."""

    threshold: float
    top: float
    reason: str


def default_threshold(trace: LookupTrace, recorded: float | None, own_weights: bool,
                      share: float = PAPER_LOOKUP_SHARE, decimals: int = 1) -> DefaultThreshold:
    """The opening threshold for ``trace``, rounded up to ``decimals``, within ``[0, top]``.

    ``top`` is the trace's largest matched distance rounded up, plus one step. The ``recorded``
    threshold (``lookup.json``) is used when the trace was searched with the weights it was chosen
    for (``own_weights``) and it lies in ``[0, top]``; otherwise the smallest threshold answering
    ``share`` of the images by lookup (the paper's share by default).
    """
    scale = 10 ** decimals
    top = math.ceil(float(trace.max_distance.max(initial=0.0)) * scale) / scale + 1 / scale
    if own_weights and recorded is not None and 0 <= recorded <= top:
        value, reason = math.ceil(recorded * scale) / scale, "the threshold recorded with the model (lookup.json)"
    else:
        value = math.ceil(share_threshold(trace, share) * scale) / scale
        reason = f"the smallest that answers {100 * share:.2f}% by lookup, the paper's share"
    return DefaultThreshold(min(value, top), top, reason)


def _check(trace: LookupTrace, ram_pred: np.ndarray, labels: np.ndarray | None = None) -> None:
    n = len(trace.prediction)
    if len(ram_pred) != n:
        raise ValueError(f"ram_pred has {len(ram_pred)} images, the trace {n}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} images, the trace {n}")


def mixed_point(trace: LookupTrace, ram_pred: np.ndarray, labels: np.ndarray, threshold: float) -> MixedPoint:
    """Mixed MBI at one ``threshold``: accuracy, lookup share and the accuracy of each part."""
    _check(trace, np.asarray(ram_pred), np.asarray(labels))
    return mixed_curve(trace, np.asarray(ram_pred), np.asarray(labels), [float(threshold)])[0]


def curve_thresholds(trace: LookupTrace, count: int = 80) -> list[float]:
    """Thresholds for the full curve: 0, quantiles of the per-image largest distance, and the largest."""
    if count < 2:
        raise ValueError(f"count must be >= 2, got {count}")
    values = set(threshold_candidates(trace, count)) | {0.0}
    return sorted(values)


def share_threshold(trace: LookupTrace, share: float) -> float:
    """Smallest threshold at which at least ``share`` (0..1) of the images are answered by lookup."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    worst = np.sort(trace.max_distance)
    if len(worst) == 0:
        return 0.0
    needed = int(np.ceil(share * len(worst)))
    return 0.0 if needed == 0 else float(worst[needed - 1])


@dataclass(frozen=True)
class ClassRow:
    """Mixed MBI on the images of one true class (accuracies are None where no image qualifies)."""

    label: int
    images: int
    lookup_share: float | None  # share answered by lookup
    mixed_accuracy: float | None
    lookup_part_accuracy: float | None  # accuracy on the images answered by lookup
    ram_part_accuracy: float | None  # accuracy on the images the RAM answered
    lookup_only_accuracy: float | None  # lookup on every image of the class (no fallback)
    ram_accuracy: float | None  # the RAM on every image of the class


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def class_breakdown(trace: LookupTrace, ram_pred: np.ndarray, labels: np.ndarray, threshold: float,
                    classes: int = NUM_CLASSES) -> list[ClassRow]:
    """One :class:`ClassRow` per true class ``0 .. classes - 1`` at ``threshold``."""
    ram_pred, labels = np.asarray(ram_pred), np.asarray(labels)
    _check(trace, ram_pred, labels)
    pred, by_lookup = mixed_predictions(trace, ram_pred, float(threshold))
    correct = pred == labels
    lookup_correct = trace.prediction == labels
    ram_correct = ram_pred == labels
    rows = []
    for c in range(classes):
        m = labels == c
        rows.append(ClassRow(
            label=c, images=int(m.sum()), lookup_share=_mean(by_lookup[m]), mixed_accuracy=_mean(correct[m]),
            lookup_part_accuracy=_mean(correct[m & by_lookup]), ram_part_accuracy=_mean(correct[m & ~by_lookup]),
            lookup_only_accuracy=_mean(lookup_correct[m]), ram_accuracy=_mean(ram_correct[m]),
        ))
    return rows


@dataclass(frozen=True)
class Fallbacks:
    """Images the RAM answered at a threshold, with the reason (arrays of equal length, image order).

    Attributes:
        image: ``int64 [F]`` index of the image in the trace.
        step: ``int64 [F]`` first glimpse step (0-based) whose matched distance exceeded the threshold.
        distance: ``float64 [F]`` that step's matched distance.
        steps_over: ``int64 [F]`` number of steps over the threshold.
        max_distance: ``float64 [F]`` largest matched distance of the image.
        threshold: the threshold.
    """

    image: np.ndarray
    step: np.ndarray
    distance: np.ndarray
    steps_over: np.ndarray
    max_distance: np.ndarray
    threshold: float

    def __len__(self) -> int:
        return len(self.image)


def fallbacks(trace: LookupTrace, threshold: float) -> Fallbacks:
    """Why each image fell back to the RAM at ``threshold``: its first step over the threshold."""
    over = trace.distance > float(threshold)
    image = np.flatnonzero(over.any(axis=1))
    step = over[image].argmax(axis=1).astype(np.int64)
    return Fallbacks(image=image.astype(np.int64), step=step,
                     distance=trace.distance[image, step].astype(np.float64),
                     steps_over=over[image].sum(axis=1).astype(np.int64),
                     max_distance=trace.max_distance[image].astype(np.float64), threshold=float(threshold))


def fallback_steps(trace: LookupTrace, threshold: float) -> np.ndarray:
    """Images that fell back, counted by the first step over ``threshold`` (``int64 [T]``)."""
    fb = fallbacks(trace, threshold)
    return np.bincount(fb.step, minlength=trace.distance.shape[1]).astype(np.int64)


__all__ = ["PAPER_LOOKUP_SHARE", "ClassRow", "DefaultThreshold", "Fallbacks", "MixedPoint", "choose_threshold",
           "class_breakdown", "curve_thresholds", "default_threshold", "fallback_steps", "fallbacks", "mixed_curve",
           "mixed_point", "mixed_predictions", "share_threshold", "threshold_candidates"]
