"""The distance weights a, b, c of eq. (1): checking, normalizing, parsing and the ratios b/a, c/a.

Eq. (1) divides by a + b + c, so only the ratios matter. The metric search (:mod:`mbi.inference.bo`)
fixes a = 1 and searches b/a and c/a on a log scale in :data:`RATIO_RANGE`; the dashboard's links and
sidebar carry the same two ratios. Every caller that takes weights asks this module.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Weights = tuple[float, float, float]
"""(a, b, c): the weights of the patch, hidden-state and location parts of eq. (1)."""

RATIO_RANGE = (1e-2, 1e2)
"""Range of b/a and c/a that the metric search explores (log scale) and a link may carry."""

UNWEIGHTED: Weights = (1.0, 1.0, 1.0)

RATIO_DIGITS = 6
"""Significant digits of a ratio as links and the sidebar write it."""


def check_weights(weights: Sequence[float]) -> Weights:
    """Validate eq. (1) weights ``(a, b, c)``: three finite, non-negative numbers, not all zero."""
    try:
        values = tuple(float(w) for w in weights)
    except TypeError as exc:
        raise TypeError(f"weights must be three numbers (a, b, c), got {weights!r}") from exc
    if len(values) != 3:
        raise ValueError(f"weights must be three numbers (a, b, c) for patch, hidden, location; got {len(values)}")
    for name, value in zip("abc", values):
        if not math.isfinite(value):
            raise ValueError(f"weight {name} must be finite, got {value}")
        if value < 0:
            raise ValueError(f"weight {name} must be >= 0, got {value}")
    if sum(values) == 0:
        raise ValueError("weights a, b, c must not all be zero (eq. (1) divides by a + b + c)")
    return values  # type: ignore[return-value]


def normalize(weights: Sequence[float]) -> Weights:
    """``weights`` checked and scaled to sum to one (eq. (1) is invariant to a common factor)."""
    values = check_weights(weights)
    total = sum(values)
    return tuple(w / total for w in values)  # type: ignore[return-value]


def part_weights(weights: Sequence[float] | None, n_parts: int) -> np.ndarray:
    """Weights of ``n_parts`` key parts divided by their sum (eq. (1)'s denominator), as ``float64 [n_parts]``;
    all equal when ``weights`` is None. For the three parts of a lookup key this is :func:`normalize`; the
    in-memory array model (:mod:`mbi.hardware.sram`) also stores keys of other part counts."""
    w = np.ones(n_parts) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_parts,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {n_parts} finite non-negative numbers with a positive sum "
                         f"(one per key part), got {weights!r}")
    return w / w.sum()


def parse_weights(text: str) -> Weights:
    """``"a,b,c"`` (e.g. ``"1,0.5,2"``) as checked weights, not normalized; a clear error otherwise."""
    items = [item.strip() for item in str(text).split(",")]
    try:
        values = [float(item) for item in items]
    except ValueError as exc:
        raise ValueError(f"weights must be three comma-separated numbers a,b,c, got {text!r}") from exc
    if len(values) != 3:
        raise ValueError(f"weights must be three comma-separated numbers a,b,c, got {text!r}")
    return check_weights(values)


def ratios_of(weights: Sequence[float]) -> tuple[float, float]:
    """(b/a, c/a) of ``weights``, clipped into :data:`RATIO_RANGE` and rounded to :data:`RATIO_DIGITS`
    significant digits (what a link or the sidebar can hold). Weights with a = 0 have no ratios."""
    a, b, c = check_weights(weights)
    if a == 0:
        raise ValueError(f"weights {weights!r} have a = 0, so they have no ratios b/a, c/a; give a > 0")
    lo, hi = RATIO_RANGE
    return tuple(float(f"{min(hi, max(lo, v)):.{RATIO_DIGITS}g}") for v in (b / a, c / a))  # type: ignore[return-value]


def from_ratios(b_over_a: float, c_over_a: float) -> Weights:
    """Normalized (a, b, c) with a = 1 before normalizing: the weights of a metric-search trial."""
    return normalize((1.0, float(b_over_a), float(c_over_a)))


__all__ = ["RATIO_DIGITS", "RATIO_RANGE", "UNWEIGHTED", "Weights", "check_weights", "from_ratios", "normalize",
           "parse_weights", "part_weights", "ratios_of"]
