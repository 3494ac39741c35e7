"""ADC levels and the Monte Carlo of one array's sum-line voltage per distance level (paper Fig. 6(b))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mbi.hardware.sram.device import SRAMConfig, _sample_vth, cell_drop_v, check_integer, nominal_discharge_v
from mbi.hardware.sram.encoding import Encoding, _check_encoding, element_column_weights

PAPER_MIN_GAP_V = 0.028
"""Smallest sum-line difference between neighbouring levels reported by the paper (Fig. 6(b))."""


# --------------------------------------------------------------------------- ADC


def adc_level_codes(max_distance: int, bits: int) -> np.ndarray:
    """ADC code of each nominal distance level ``0..max_distance`` for a ``bits``-bit converter.

    With at least as many codes as levels, each level gets its own code (references trimmed so one
    LSB is one level). Otherwise the codes span the range uniformly (``round(d (2**bits-1) / max)``)
    and neighbouring levels share a code; decision thresholds always sit midway between levels.
    """
    levels = np.arange(max_distance + 1)
    n_codes = 2**bits
    if n_codes >= max_distance + 1:
        return levels
    return np.floor(levels * (n_codes - 1) / max_distance + 0.5).astype(np.int64)


def adc_level_values(max_distance: int, bits: int | None) -> np.ndarray:
    """Distance the digital side reads back for each nominal level (its code times the code step)."""
    if bits is None:
        return np.arange(max_distance + 1, dtype=np.float64)
    codes = adc_level_codes(max_distance, bits)
    n_codes = 2**bits
    step = 1.0 if n_codes >= max_distance + 1 else max_distance / (n_codes - 1)
    return codes * step


def _level_index(analog: np.ndarray, max_distance: int) -> np.ndarray:
    """Nominal level whose decision window holds each analog distance (thresholds at level + 1/2)."""
    return np.clip(np.rint(analog), 0, max_distance).astype(np.int64)


# --------------------------------------------------------------------------- Monte Carlo of distance levels


def _subset_counts(weights: np.ndarray) -> np.ndarray:
    """``ways[c, s]``: number of subsets of columns ``c..`` whose weights sum to ``s`` (float, may be huge)."""
    total = int(weights.sum())
    ways = np.zeros((len(weights) + 1, total + 1))
    ways[-1, 0] = 1.0
    for c in range(len(weights) - 1, -1, -1):
        ways[c] = ways[c + 1]
        w = int(weights[c])
        if w > 0:  # a zero-weight (unused) column never differs
            ways[c, w:] += ways[c + 1, :total + 1 - w]
    return ways


def sample_patterns(rng: np.random.Generator, weights: np.ndarray, level: int, n: int,
                    ways: np.ndarray | None = None) -> np.ndarray:
    """``n`` masks [n, C] of differing columns, drawn uniformly among those whose weights sum to ``level``."""
    ways = _subset_counts(weights) if ways is None else ways
    if not 0 <= level < ways.shape[1] or ways[0, level] == 0:
        raise ValueError(f"no set of columns with weights {weights.tolist()} sums to {level}")
    remaining = np.full(n, level, dtype=np.int64)
    mask = np.zeros((n, len(weights)), dtype=bool)
    rows = np.arange(n)
    for c, w in enumerate(weights):
        w = int(w)
        here = ways[c, remaining]
        take = np.zeros(n)
        ok = (remaining >= w) & (w > 0)
        take[ok] = ways[c + 1, remaining[ok] - w] / here[ok]
        chosen = rng.random(n) < take
        mask[rows, c] = chosen
        remaining -= w * chosen
    return mask


@dataclass(frozen=True, eq=False)
class LevelStats:
    """Monte Carlo sum-line voltages of one array for every distance level (paper Fig. 6(b)).

    ``voltages[d]`` holds ``(V_SLP + V_SLN) / 2`` (V) of every sampled row at distance level ``d``;
    samples = trials x rows, each trial a fresh array instance (new V_TH for every transistor).
    """

    config: SRAMConfig
    encoding: str
    element_bits: int
    trials: int
    seed: int
    column_weight: np.ndarray  # [cols] weights of the characterized array (0 = unused column)
    levels: np.ndarray  # [L]
    voltages: np.ndarray  # [L, samples] V
    nominal_v: np.ndarray  # [L] variation-free level voltages (the ADC's reference line)
    adc_errors: np.ndarray  # [L] share of samples whose ADC code differs from the level's own code

    @property
    def mean_spacing_v(self) -> float:
        """Smallest difference of mean voltages between neighbouring levels."""
        return float(-np.diff(self.voltages.mean(axis=1)).max())

    @property
    def nominal_spacing_v(self) -> float:
        """Variation-free voltage step per distance level."""
        return float(-np.diff(self.nominal_v).max())

    def gaps_v(self) -> np.ndarray:
        """Eye opening between level d and d+1: lowest sample of d minus highest of d+1 (negative = overlap)."""
        return self.voltages[:-1].min(axis=1) - self.voltages[1:].max(axis=1)

    @property
    def min_gap_v(self) -> float:
        """Worst eye opening over all neighbouring levels (the paper's Delta SL)."""
        return float(self.gaps_v().min())

    @property
    def min_gap_level(self) -> int:
        """Level d whose gap to d+1 is the smallest."""
        return int(self.levels[int(np.argmin(self.gaps_v()))])

    def decision_threshold_v(self, level: int) -> float | None:
        """The ADC's decision threshold (V) between distance ``level`` and ``level + 1``, or None when the
        converter gives both the same code (too few codes for the levels, so nothing is decided there).

        The ADC rounds to the nearest nominal level, so two levels with different codes split midway
        between their variation-free voltages.
        """
        i = int(np.searchsorted(self.levels, level))
        if i >= len(self.levels) - 1 or self.levels[i] != level:
            raise ValueError(f"level must be one of {int(self.levels[0])}..{int(self.levels[-2])} (it needs a "
                             f"next level), got {level}")
        codes = adc_level_codes(int(self.levels[-1]), self.config.adc_bits)
        if codes[i] == codes[i + 1]:
            return None
        return float(0.5 * (self.nominal_v[i] + self.nominal_v[i + 1]))

    @property
    def adc_error_rate(self) -> float:
        """Share of reads (all levels equally likely) whose ADC code differs from the variation-free one."""
        return float(self.adc_errors.mean())

    @property
    def adc_distinct_codes(self) -> int:
        """How many different codes the levels map to (fewer than levels means the ADC merges some)."""
        return len(np.unique(adc_level_codes(int(self.levels[-1]), self.config.adc_bits)))

    def per_level(self) -> list[dict[str, float]]:
        """One row per level: mean, std, min, max (mV) and ADC error rate."""
        v = self.voltages * 1e3
        gaps = np.append(self.gaps_v() * 1e3, np.nan)
        return [{"level": int(d), "mean_mv": float(v[i].mean()), "std_mv": float(v[i].std()),
                 "min_mv": float(v[i].min()), "max_mv": float(v[i].max()),
                 "gap_to_next_mv": float(gaps[i]), "adc_error_rate": float(self.adc_errors[i])}
                for i, d in enumerate(self.levels)]

    def summary(self) -> dict[str, Any]:
        """Headline numbers (JSON-ready)."""
        return {
            "config": self.config.to_dict(), "encoding": self.encoding, "element_bits": self.element_bits,
            "trials": self.trials, "seed": self.seed, "samples_per_level": int(self.voltages.shape[1]),
            "levels": int(len(self.levels)), "max_distance": int(self.levels[-1]),
            "nominal_spacing_mv": 1e3 * self.nominal_spacing_v, "mean_spacing_mv": 1e3 * self.mean_spacing_v,
            "min_gap_mv": 1e3 * self.min_gap_v, "min_gap_between_levels": [self.min_gap_level, self.min_gap_level + 1],
            "paper_min_gap_mv": 1e3 * PAPER_MIN_GAP_V, "adc_bits": self.config.adc_bits,
            "adc_distinct_codes": self.adc_distinct_codes, "adc_error_rate": self.adc_error_rate,
            "worst_level_adc_error_rate": float(self.adc_errors.max()),
        }


def characterization_weights(cols: int, element_bits: int, encoding: Encoding) -> np.ndarray:
    """Column weights of an array filled with as many ``element_bits``-bit elements as fit (0 = unused)."""
    w = element_column_weights(2**element_bits, encoding)
    n_elements = cols // len(w)
    if n_elements == 0:
        raise ValueError(f"an array of {cols} columns cannot hold one {element_bits}-bit element, which needs "
                         f"{len(w)} columns in {encoding} encoding")
    return np.concatenate([np.tile(w, n_elements), np.zeros(cols - n_elements * len(w), dtype=np.int64)])


MONTE_CARLO_BUDGETS: dict[str, float] = {"fast": 1.7e6, "fine": 7e6}
"""Cell evaluations (trials x rows x columns x levels) one :func:`level_statistics` run may cost, per precision."""


def monte_carlo_trials(config: SRAMConfig, element_bits: int, encoding: Encoding, budget: float,
                       lo: int = 2, hi: int = 200) -> int:
    """Array instances :func:`level_statistics` can draw within ``budget`` cell evaluations, clipped to [lo, hi].

    One instance costs ``rows x cols x levels`` evaluations, ``levels`` being the distance levels of an
    array filled with ``element_bits``-bit elements in ``encoding`` (:func:`characterization_weights`).
    """
    check_integer("monte_carlo_trials", "lo", lo, 1, hi)
    levels = int(characterization_weights(config.cols, element_bits, encoding).sum()) + 1
    return max(lo, min(hi, int(budget / (config.rows * config.cols * levels))))


def level_statistics(config: SRAMConfig | None = None, *, element_bits: int = 1, encoding: Encoding = "binary",
                     trials: int = 200, seed: int = 0) -> LevelStats:
    """Monte Carlo of one ``rows x cols`` array: sum-line voltage spread, level gaps and ADC errors.

    Every trial draws a new array (V_TH of all 4 read-port transistors of every cell); every row of it
    is then evaluated at every distance level with a random pattern of differing columns of that
    level (uniform over such patterns) and a random side (BL: k=1,q=0 or BLB: k=0,q=1) per column.
    Unused columns (array width not a multiple of the element width) hold their precharge.
    """
    config = config or SRAMConfig()
    _check_encoding(encoding)
    check_integer("level_statistics", "element_bits", element_bits, 1, 8)
    check_integer("level_statistics", "trials", trials, 1, 1_000_000)
    weights = characterization_weights(config.cols, element_bits, encoding)
    used = weights > 0
    element_max = element_column_weights(2**element_bits, encoding).max()
    v_p = config.v_p_max_v * np.where(used, weights / element_max, 1.0)
    ways = _subset_counts(weights)
    max_distance = int(weights.sum())
    levels = np.arange(max_distance + 1)
    full_scale = float(nominal_discharge_v(config, v_p[used]).sum())  # line drop when every column differs
    v_top = float(v_p.mean())
    nominal_v = v_top - levels * full_scale / max_distance / (2 * config.cols)
    codes = adc_level_codes(max_distance, config.adc_bits)

    rng = np.random.default_rng(seed)
    rows, cols = config.rows, config.cols
    chunk = max(1, 2_000_000 // (rows * cols * len(levels)))
    volts = np.empty((len(levels), trials * rows))
    for t0 in range(0, trials, chunk):
        t = min(chunk, trials - t0)
        vth = _sample_vth(rng, (t, rows, cols, 2, 2), config)  # [trial, row, col, side, transistor]
        drop = cell_drop_v(vth, v_p[None, None, :, None], config).reshape(t * rows, cols, 2)
        for i, d in enumerate(levels):
            mask = sample_patterns(rng, weights, int(d), t * rows, ways)
            side = rng.integers(0, 2, size=mask.shape)
            chosen = np.take_along_axis(drop, side[..., None], axis=2)[..., 0]
            volts[i, t0 * rows:(t0 + t) * rows] = v_top - (mask * chosen).sum(axis=1) / (2 * cols)
    analog = (v_top - volts) * (2 * cols) * max_distance / full_scale
    errors = (codes[_level_index(analog, max_distance)] != codes[:, None]).mean(axis=1)
    return LevelStats(config, encoding, element_bits, trials, seed, weights, levels, volts, nominal_v, errors)
