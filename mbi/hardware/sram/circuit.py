"""Behavioural model of the 10T SRAM in-memory search array (paper Sec. III-D, Fig. 6).

What the array does, step by step (paper Fig. 6(a)):

1. Keys are stored row-wise; an element with p-bit binary code uses p columns, LSB first.
   Column j of an element is precharged to ``V_P,max / 2**(p-j-1)`` (both BL and BLB).
2. One row is selected and the query bits drive the read ports. Each cell has two
   discharge paths, each a stack of two minimum-size NMOS: BL discharges only when
   ``k=1, q=0`` and BLB only when ``k=0, q=1``. A path that conducts for the
   discharge time ``t_d`` pulls its line down; how far depends on its transistors'
   threshold voltages (see :func:`stack_drive` and :func:`discharge`).
3. Charge sharing averages all BLs onto SLP and all BLBs onto SLN (eq. 2a, 2b);
   the ADC digitizes ``(V_SLP + V_SLN) / 2``, which falls linearly with the
   bit-significance-weighted number of differing bits.
4. The ADC code of each array is multiplied by its part's digital weight (a, b, c
   of eq. 1) and the partitions of a key spread over several arrays are summed.

Current model of one NMOS (gate at V_dd): the alpha-power law of Sakurai and Newton,
``I_sat = I_on * (V_ov / V_ov,nom)**alpha``, with ``V_ov`` the gate overdrive
``V_dd - V_TH`` smoothed EKV-style (``2 n phi_t ln(1 + exp(V_ov / (2 n phi_t)))``) so a
cell pushed near or past threshold by variation still conducts its subthreshold
current instead of a negative one. Saturation voltage ``V_DSAT ∝ V_ov**(alpha/2)``;
below it the current follows ``I_sat (2 - V/V_DSAT) V/V_DSAT``. Two transistors in
series combine like resistors (harmonic sum of currents). What this model leaves
out: leakage of off paths, sum-line parasitic capacitance (it scales every level
alike), variation of the PMOS precharge and transmission gates (a settled
precharge and charge share do not depend on their strength), and ADC noise.

Process variation is a property of the physical cells: each transistor's V_TH is
drawn once (per seed) and stays with its cell, whatever query is applied.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Sequence

import numpy as np

from mbi.config import RAMConfig
from mbi.search.distance import KeyLayout

Encoding = Literal["binary", "thermometer"]
ENCODINGS: tuple[str, ...] = ("binary", "thermometer")

THERMAL_VOLTAGE_V = 0.02585
"""kT/q at 300 K."""
I_ON_REFERENCE_LENGTH_NM = 16.0
"""Channel length at which ``SRAMConfig.i_on_a_per_um`` is quoted (the 16 nm node)."""
PAPER_MIN_GAP_V = 0.028
"""Smallest sum-line difference between neighbouring levels reported by the paper (Fig. 6(b))."""
_VTH_BLOCK_ROWS = 1024
"""Table rows per random stream: a row's cells get the same V_TH whatever subset is queried."""


def check_number(owner: str, name: str, value: Any, lo: float, hi: float, unit: str,
                  lo_open: bool = False, hi_open: bool = False) -> None:
    """Raise a ValueError naming the parameter, its value and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{owner}.{name} must be a finite number, got {value!r}")
    if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ValueError(f"{owner}.{name} = {value!r} is out of range: allowed {left}{lo:g}, {hi:g}{right} {unit}")


def check_integer(owner: str, name: str, value: Any, lo: int, hi: int) -> None:
    """Raise a ValueError unless ``value`` is an int in [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < lo or value > hi:
        raise ValueError(f"{owner}.{name} = {value} is out of range: allowed [{lo}, {hi}]")


@dataclass(frozen=True)
class SRAMConfig:
    """Every electrical and architectural knob of the search array, validated on creation.

    Defaults describe the paper's 16 nm operating point; where each value comes from:

    - ``vdd_v`` 0.9 V: nominal supply of the PTM 16 nm low-power model card (paper ref. [10]).
    - ``v_p_max_v`` 0.9 V: precharge of MSB columns, taken from the supply (so <= ``vdd_v``).
    - ``bitline_cap_per_cell_f`` 0.15 fF: our estimate of one cell's share of a bit line
      (read-port drain junctions plus ~0.25 um of minimum-pitch metal); 32 rows give 4.8 fF.
    - ``discharge_time_s`` 2 ns: evaluate phase, sized so a stack with both NMOS at
      V_TH + 3 sigma (0.86 V) still pulls a ``V_P,max`` column below 10 % (it needs 1.9 ns;
      a nominal stack needs 0.5 ns, see :func:`nominal_discharge_v`). Shorter windows leave
      slow cells half-discharged and close the gaps between levels.
    - ``vth_nominal_v`` 0.68 V: ``vth0`` of the PTM 16 nm LP NMOS (0.68191 V).
    - ``width_nm`` x ``length_nm`` 32 x 16 nm: minimum-size read-port NMOS, as the paper simulates.
    - ``i_on_a_per_um`` 0.5 mA/um: saturation current per um of width at V_GS = V_dd and
      nominal V_TH, in the range of ITRS low-standby-power drive currents (our estimate).
    - ``alpha`` 1.3: alpha-power-law exponent for velocity-saturated short channels (1.2-1.4).
    - ``slope_factor`` 1.6: subthreshold slope factor n (PTM 16 nm LP ``nfactor``).
    - ``sigma_vth_v`` 60 mV: per-transistor V_TH spread the paper simulates (Fig. 6(b));
      Pelgrom's law with A_VT ~ 1.4 mV um gives this at 32 x 16 nm.
    - ``rows`` x ``cols`` 32 x 32: the paper's array.
    - ``adc_bits`` 5: the paper's ADC.
    """

    vdd_v: float = 0.9
    v_p_max_v: float = 0.9
    bitline_cap_per_cell_f: float = 0.15e-15
    discharge_time_s: float = 2e-9
    vth_nominal_v: float = 0.68
    width_nm: float = 32.0
    length_nm: float = 16.0
    i_on_a_per_um: float = 0.5e-3
    alpha: float = 1.3
    slope_factor: float = 1.6
    sigma_vth_v: float = 0.06
    rows: int = 32
    cols: int = 32
    adc_bits: int = 5

    def __post_init__(self) -> None:
        own = "SRAMConfig"
        check_number(own, "vdd_v", self.vdd_v, 0.0, 2.0, "V", lo_open=True)
        check_number(own, "v_p_max_v", self.v_p_max_v, 0.0, self.vdd_v, "V (0 < V_P,max <= vdd_v)", lo_open=True)
        check_number(own, "bitline_cap_per_cell_f", self.bitline_cap_per_cell_f, 0.0, 1e-12, "F", lo_open=True)
        check_number(own, "discharge_time_s", self.discharge_time_s, 0.0, 1e-6, "s", lo_open=True)
        check_number(own, "vth_nominal_v", self.vth_nominal_v, 0.0, self.vdd_v, "V (below vdd_v)",
                      lo_open=True, hi_open=True)
        check_number(own, "width_nm", self.width_nm, 1.0, 10_000.0, "nm")
        check_number(own, "length_nm", self.length_nm, 1.0, 10_000.0, "nm")
        check_number(own, "i_on_a_per_um", self.i_on_a_per_um, 0.0, 1e-2, "A/um", lo_open=True)
        check_number(own, "alpha", self.alpha, 1.0, 2.0, "")
        check_number(own, "slope_factor", self.slope_factor, 1.0, 3.0, "")
        check_number(own, "sigma_vth_v", self.sigma_vth_v, 0.0, 0.3, "V")
        check_integer(own, "rows", self.rows, 1, 4096)
        check_integer(own, "cols", self.cols, 1, 4096)
        check_integer(own, "adc_bits", self.adc_bits, 1, 16)

    @property
    def bitline_cap_f(self) -> float:
        """Capacitance of one bit line: every row's cell hangs on it."""
        return self.rows * self.bitline_cap_per_cell_f

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


# --------------------------------------------------------------------------- transistors and bit lines


def _smooth_overdrive(vov: np.ndarray, slope_factor: float) -> np.ndarray:
    """EKV-style overdrive: ~V_ov above threshold, exponentially small (never negative) below."""
    s = 2.0 * slope_factor * THERMAL_VOLTAGE_V
    return s * np.logaddexp(0.0, np.asarray(vov, dtype=np.float64) / s)


def device_drive(vth_v: np.ndarray, config: SRAMConfig) -> tuple[np.ndarray, np.ndarray]:
    """Saturation current (A) and saturation voltage (V) of one read-port NMOS with its gate at V_dd.

    Alpha-power law normalised so a nominal device carries ``i_on_a_per_um * W`` (scaled by
    16 nm / L); ``V_DSAT`` equals the nominal overdrive at nominal V_TH and scales as
    ``V_ov**(alpha/2)`` (Sakurai-Newton).
    """
    vov = _smooth_overdrive(config.vdd_v - np.asarray(vth_v, dtype=np.float64), config.slope_factor)
    vov0 = float(_smooth_overdrive(np.float64(config.vdd_v - config.vth_nominal_v), config.slope_factor))
    i_nom = config.i_on_a_per_um * (config.width_nm / 1000.0) * (I_ON_REFERENCE_LENGTH_NM / config.length_nm)
    ratio = vov / vov0
    return i_nom * ratio**config.alpha, vov0 * ratio ** (config.alpha / 2.0)


def stack_drive(vth_v: np.ndarray, config: SRAMConfig) -> tuple[np.ndarray, np.ndarray]:
    """Saturation current and voltage of a two-NMOS discharge stack; ``vth_v[..., 2]`` holds both V_TH.

    Series devices add like resistors: ``I = I1 I2 / (I1 + I2)``, and the stack's ``V_DSAT`` keeps its
    small-signal on-conductance ``2 I / V_DSAT`` equal to that of the two devices in series.
    """
    i, vd = device_drive(vth_v, config)
    i1, i2, v1, v2 = i[..., 0], i[..., 1], vd[..., 0], vd[..., 1]
    i_stack = i1 * i2 / (i1 + i2)
    return i_stack, i_stack * (v1 / i1 + v2 / i2)


def discharge(v0: np.ndarray, i_sat: np.ndarray, v_dsat: np.ndarray, cap_f: float, t_s: float) -> np.ndarray:
    """Bit-line voltage after a stack with (``i_sat``, ``v_dsat``) discharges ``cap_f`` from ``v0`` for ``t_s``.

    Above ``v_dsat`` the stack sinks a constant ``i_sat`` (linear ramp); below it the current is
    ``i_sat (2 - x) x`` with ``x = V / v_dsat``, whose ODE ``dx/dt = -k x (2 - x)``, ``k = i_sat / (C v_dsat)``
    integrates to ``x = 2r / (1 + r)``, ``r = x0 / (2 - x0) exp(-2 k t)``.
    """
    v0 = np.asarray(v0, dtype=np.float64)
    i_sat = np.maximum(np.asarray(i_sat, dtype=np.float64), 1e-30)
    v_dsat = np.asarray(v_dsat, dtype=np.float64)
    t_ramp = cap_f * np.maximum(v0 - v_dsat, 0.0) / i_sat
    v_ramp = v0 - i_sat * t_s / cap_f
    x0 = np.minimum(v0, v_dsat) / v_dsat
    k = i_sat / (cap_f * v_dsat)
    r = x0 / (2.0 - x0) * np.exp(-2.0 * k * np.maximum(t_s - t_ramp, 0.0))
    return np.where(t_s <= t_ramp, v_ramp, v_dsat * 2.0 * r / (1.0 + r))


def cell_drop_v(vth_v: np.ndarray, v_p: np.ndarray, config: SRAMConfig) -> np.ndarray:
    """How far a conducting path pulls its line down (V): ``vth_v[..., 2]`` per stack, ``v_p`` the precharge."""
    i_sat, v_dsat = stack_drive(vth_v, config)
    return v_p - discharge(v_p, i_sat, v_dsat, config.bitline_cap_f, config.discharge_time_s)


def nominal_discharge_v(config: SRAMConfig, v_p: float | np.ndarray) -> np.ndarray:
    """Line drop of a variation-free cell from precharge ``v_p`` (full discharge would be ``v_p``)."""
    vth = np.full(np.shape(v_p) + (2,), config.vth_nominal_v)
    return cell_drop_v(vth, np.asarray(v_p, dtype=np.float64), config)


def _sample_vth(rng: np.random.Generator, shape: tuple[int, ...], config: SRAMConfig) -> np.ndarray:
    """Threshold voltages of ``shape`` transistors: nominal plus N(0, sigma_vth)."""
    if config.sigma_vth_v == 0.0:
        return np.full(shape, config.vth_nominal_v)
    return config.vth_nominal_v + config.sigma_vth_v * rng.standard_normal(shape)


# --------------------------------------------------------------------------- encodings and key layout


def element_column_weights(levels: int, encoding: Encoding) -> np.ndarray:
    """Distance weight of each column of one element (LSB first), in units of the least significant column.

    Binary: ``ceil(log2 levels)`` columns of weight ``2**j`` (precharged to ``V_P,max / 2**(p-j-1)``).
    Thermometer: ``levels - 1`` columns of weight 1, all precharged to ``V_P,max``.
    """
    _check_encoding(encoding)
    if encoding == "binary":
        return 2 ** np.arange(max(1, math.ceil(math.log2(levels))), dtype=np.int64)
    return np.ones(levels - 1, dtype=np.int64)


def encode_elements(values: np.ndarray, levels: int, encoding: Encoding) -> np.ndarray:
    """Column bits (uint8) of integer elements ``values[..., n]`` -> ``[..., n * columns_per_element]``."""
    values = np.asarray(values)
    n_cols = len(element_column_weights(levels, encoding))
    j = np.arange(n_cols)
    if encoding == "binary":
        bits = (values[..., None] >> j) & 1
    else:
        bits = values[..., None] > j
    return bits.astype(np.uint8).reshape(values.shape[:-1] + (values.shape[-1] * n_cols,))


def element_distance_table(levels: int, encoding: Encoding) -> np.ndarray:
    """``T[k, q]``: what one element's columns contribute for key level k and query level q (no variation).

    Binary gives ``k XOR q`` (e.g. 1 vs 2 -> 3, not |1 - 2| = 1); thermometer gives ``|k - q|``.
    """
    bits = encode_elements(np.arange(levels)[:, None], levels, encoding)
    weights = element_column_weights(levels, encoding)
    return (bits[:, None, :] != bits[None, :, :]) @ weights


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


@dataclass(frozen=True)
class KeyPart:
    """One component of a key: ``count`` elements, each an integer level in ``[0, levels)``."""

    name: str
    count: int
    levels: int

    def __post_init__(self) -> None:
        check_integer(f"KeyPart({self.name!r})", "count", self.count, 1, 1_000_000)
        check_integer(f"KeyPart({self.name!r})", "levels", self.levels, 2, 1 << 16)


def key_parts_from_layout(layout: KeyLayout) -> tuple[KeyPart, KeyPart, KeyPart]:
    """(patch, hidden, location) parts of keys laid out as :class:`mbi.search.distance.KeyLayout` describes."""
    return (KeyPart("patch", layout.patch_len, layout.patch_levels),
            KeyPart("hidden", layout.hidden_len, layout.hidden_levels),
            KeyPart("location", 2, layout.loc_levels))


def key_parts_from_ram(ram: RAMConfig | None = None) -> tuple[KeyPart, KeyPart, KeyPart]:
    """(patch, hidden, location) parts of a lookup key for a quantized RAM, in the order of weights (a, b, c).

    Patch: ``num_patches * patch_size**2`` elements of ``2**patch_bits`` levels; hidden: ``state_size``
    elements of ``2**hidden_bits`` levels; location: 2 grid indices in ``[0, loc_grid)``.
    """
    ram = ram or RAMConfig()
    if ram.patch_bits is None or ram.hidden_bits is None:
        raise ValueError("the SRAM stores quantized keys: patch_bits and hidden_bits must be integers, not None")
    return (KeyPart("patch", ram.patch_vector_len, 2**ram.patch_bits),
            KeyPart("hidden", ram.state_size, 2**ram.hidden_bits),
            KeyPart("location", 2, ram.loc_grid))


@dataclass(frozen=True, eq=False)
class ArrayLayout:
    """Where each key column lives: parts laid out one after another, each split over its own arrays.

    A part's columns fill ``ceil(part_columns / array_cols)`` arrays contiguously (an element may
    straddle two arrays); arrays never mix parts, because the digital weight is applied per array.
    """

    parts: tuple[KeyPart, ...]
    encoding: str
    array_cols: int
    column_weight: np.ndarray  # [C] distance weight of each key column
    column_precharge: np.ndarray  # [C] precharge as a fraction of V_P,max
    arrays: tuple[tuple[int, int, int], ...]  # (part index, first column, end column) per array

    @property
    def n_columns(self) -> int:
        """Columns one key occupies."""
        return len(self.column_weight)

    @property
    def n_arrays(self) -> int:
        """Arrays (splits) one key is spread over."""
        return len(self.arrays)

    def array_max_distance(self, a: int) -> int:
        """Largest distance array ``a`` can report (every column differs)."""
        _, start, stop = self.arrays[a]
        return int(self.column_weight[start:stop].sum())

    def encode(self, values: np.ndarray, what: str = "keys") -> np.ndarray:
        """Column bits [R, C] (uint8) of integer keys or queries [R, D], checked against each part's levels."""
        values = np.asarray(values)
        width = sum(p.count for p in self.parts)
        if values.ndim != 2 or values.shape[1] != width:
            raise ValueError(f"{what} must have shape [rows, {width}] (sum of the parts' element counts), "
                             f"got {values.shape}")
        if not (np.issubdtype(values.dtype, np.integer) or values.dtype == bool):
            raise ValueError(f"{what} must be integer levels, got dtype {values.dtype}")
        pieces, start = [], 0
        for part in self.parts:
            block = values[:, start:start + part.count].astype(np.int64)
            bad = (block < 0) | (block >= part.levels)
            if bad.any():
                r, c = np.argwhere(bad)[0]
                raise ValueError(f"{what}[{r}, {start + c}] = {block[r, c]} is outside part {part.name!r}'s "
                                 f"levels [0, {part.levels - 1}]")
            pieces.append(encode_elements(block, part.levels, self.encoding))
            start += part.count
        return np.concatenate(pieces, axis=1)


def build_layout(parts: Sequence[KeyPart], encoding: Encoding = "binary", array_cols: int = 32) -> ArrayLayout:
    """Lay a key of ``parts`` out on arrays ``array_cols`` wide (errors if an array is wider than the key)."""
    _check_encoding(encoding)
    check_integer("layout", "array_cols", array_cols, 1, 4096)
    parts = tuple(parts)
    if not parts:
        raise ValueError("a key needs at least one part")
    weights, precharge, arrays, start = [], [], [], 0
    for index, part in enumerate(parts):
        w = element_column_weights(part.levels, encoding)
        weights.append(np.tile(w, part.count))
        precharge.append(np.tile(w / w.max(), part.count))
        n = part.count * len(w)
        arrays += [(index, s, min(s + array_cols, start + n)) for s in range(start, start + n, array_cols)]
        start += n
    if array_cols > start:
        raise ValueError(f"array_cols = {array_cols} is wider than the key, which needs only {start} columns "
                         f"in {encoding} encoding; use array_cols <= {start}")
    return ArrayLayout(parts, encoding, array_cols, np.concatenate(weights), np.concatenate(precharge), tuple(arrays))


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


# --------------------------------------------------------------------------- a table stored in the arrays


def _block_rng(seed: int, block: int) -> np.random.Generator:
    """Random stream of one block of table rows (fixed per seed and block, independent of chunking)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def _normalized_weights(weights: Sequence[float] | None, n_parts: int) -> np.ndarray:
    """Part weights divided by their sum (eq. 1's denominator); all ones when ``weights`` is None."""
    w = np.ones(n_parts) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n_parts,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {n_parts} finite non-negative numbers with a positive sum "
                         f"(one per key part), got {weights!r}")
    return w / w.sum()


class CircuitTable:
    """A lookup table written into SRAM arrays, with its cells' process variation frozen.

    Build it once per table, configuration and seed; :meth:`distances` then returns what the
    circuit reports for any batch of queries against all rows or any subset (e.g. a tree leaf):
    per array the analog sum-line distance is digitized by the ADC, multiplied by its part's
    weight and summed, normalized like eq. (1). Row ``n`` always sits on the same physical cells,
    so a subset sees exactly the values it has inside the full table.
    """

    def __init__(self, keys: np.ndarray, parts: Sequence[KeyPart], *, weights: Sequence[float] | None = None,
                 encoding: Encoding = "binary", config: SRAMConfig | None = None, seed: int = 0,
                 adc_bits: int | None = None, use_adc: bool = True) -> None:
        """Store ``keys`` [N, D] (integer levels per part); ``adc_bits`` overrides ``config.adc_bits``;
        ``use_adc=False`` reads the analog value directly (an ideal, infinite-resolution converter)."""
        self.config = config or SRAMConfig()
        if adc_bits is not None:
            self.config = replace(self.config, adc_bits=adc_bits)
        self.use_adc = use_adc
        self.seed = seed
        self.layout = build_layout(parts, encoding, self.config.cols)
        self.part_weight = _normalized_weights(weights, len(self.layout.parts))
        bits = self.layout.encode(keys, "keys")
        self.n_rows = bits.shape[0]
        self._packed_bits = np.packbits(bits, axis=1)  # what each row stores, to check :meth:`holds`
        v_p = self.config.v_p_max_v * self.layout.column_precharge
        drop = np.empty(bits.shape, dtype=np.float32)  # drop of each cell's only path that can conduct
        for block, r0 in enumerate(range(0, self.n_rows, _VTH_BLOCK_ROWS)):
            r1 = min(r0 + _VTH_BLOCK_ROWS, self.n_rows)
            vth = _sample_vth(_block_rng(seed, block), (_VTH_BLOCK_ROWS, bits.shape[1], 2, 2), self.config)[:r1 - r0]
            side = 1 - bits[r0:r1, :, None, None].astype(np.int64)  # k=1 -> BL path (side 0), k=0 -> BLB
            active = np.take_along_axis(vth, side, axis=2)[:, :, 0]  # [rows, C, transistor]
            drop[r0:r1] = cell_drop_v(active, v_p[None, :], self.config)
        # drop(q, n, array) = sum_c drop[n,c] [k != q] = base[n, a] + sum_c q_c (1 - 2 k_nc) drop[n, c]
        stored_one = bits == 1
        self._signed = np.where(stored_one, -drop, drop)
        held = np.where(stored_one, drop, np.float32(0.0))
        self._base = np.stack([held[:, s:e].sum(axis=1) for _, s, e in self.layout.arrays], axis=1)
        nominal = nominal_discharge_v(self.config, v_p)
        self._max_distance = [self.layout.array_max_distance(a) for a in range(self.layout.n_arrays)]
        self._scale = [m / float(nominal[s:e].sum()) for m, (_, s, e) in zip(self._max_distance, self.layout.arrays)]
        self._readout = [adc_level_values(m, self.config.adc_bits).astype(np.float32) for m in self._max_distance]

    def with_adc_bits(self, adc_bits: int | None) -> "CircuitTable":
        """The same table on the same cells read through an ``adc_bits`` ADC (for resolution sweeps; no resampling).

        ``None`` reads the analog value directly (an ideal converter, like ``use_adc=False``).
        """
        other = copy.copy(self)
        if adc_bits is None:
            other.use_adc = False
            return other
        other.config = replace(self.config, adc_bits=adc_bits)
        other.use_adc = True
        other._readout = [adc_level_values(m, adc_bits).astype(np.float32) for m in self._max_distance]
        return other

    @property
    def n_parts(self) -> int:
        """Key parts (digital weights) the arrays are grouped into."""
        return len(self.layout.parts)

    def holds(self, keys: np.ndarray, rows: np.ndarray | None = None) -> bool:
        """Whether table ``rows`` (default: all) store exactly ``keys`` [len(rows), D] in this layout."""
        rows = np.arange(self.n_rows) if rows is None else self._check_rows(rows, "rows")
        bits = self.layout.encode(keys, "keys")
        return bits.shape[0] == len(rows) and np.array_equal(np.packbits(bits, axis=1), self._packed_bits[rows])

    def _digital_inplace(self, a: int, analog: np.ndarray) -> np.ndarray:
        """:meth:`_digital` of a float32 buffer, overwriting it (the hot path of :meth:`part_distances`)."""
        if not self.use_adc:
            return analog
        top = self._max_distance[a]
        np.rint(analog, out=analog)
        np.clip(analog, 0, top, out=analog)
        readout = self._readout[a]
        if len(readout) == top + 1 and np.array_equal(readout, np.arange(top + 1, dtype=readout.dtype)):
            return analog  # one code per level: the level itself is read back
        return np.take(readout, analog.astype(np.int32))

    def part_distances(self, queries: np.ndarray, rows: np.ndarray | None = None,
                       chunk_rows: int = 4096) -> np.ndarray:
        """Digitized distance of every key part, float32 ``[parts, Q, R]``, of ``queries`` to table ``rows``.

        Per part, the sum over its arrays of what each array's ADC reads back (in distance units),
        before the digital weights: the shape a searcher needs to combine parts exactly like eq. (1)
        does (``mbi.search.distance.combine``). Without variation, with thermometer coding and an ADC with
        a code per level, this is each part's Manhattan distance exactly.
        """
        q = self.layout.encode(queries, "queries").astype(np.float32)
        rows = np.arange(self.n_rows) if rows is None else self._check_rows(rows, "rows")
        out = np.zeros((self.n_parts, q.shape[0], len(rows)), dtype=np.float32)
        for c0 in range(0, len(rows), chunk_rows):
            idx = rows[c0:c0 + chunk_rows]
            signed, base = self._signed[idx], self._base[idx]
            for a, (part, s, e) in enumerate(self.layout.arrays):
                analog = q[:, s:e] @ signed[:, s:e].T
                analog += base[None, :, a]
                analog *= np.float32(self._scale[a])
                out[part, :, c0:c0 + len(idx)] += self._digital_inplace(a, analog)
        return out

    def pair_part_distances(self, queries: np.ndarray, query_rows: np.ndarray, table_rows: np.ndarray,
                            chunk_pairs: int = 32768) -> np.ndarray:
        """:meth:`part_distances` of each pair ``(queries[query_rows[i]], table row table_rows[i])``: ``[parts, P]``."""
        q = self.layout.encode(queries, "queries").astype(np.float32)
        qi, ti = np.asarray(query_rows, dtype=np.int64), self._check_rows(table_rows, "table_rows")
        if qi.shape != ti.shape or (qi.size and (qi.min() < 0 or qi.max() >= len(q))):
            raise ValueError(f"query_rows must match table_rows in length and index the {len(q)} queries")
        out = np.zeros((self.n_parts, len(qi)), dtype=np.float32)
        for p0 in range(0, len(qi), chunk_pairs):
            pq, pt = qi[p0:p0 + chunk_pairs], ti[p0:p0 + chunk_pairs]
            product, base = q[pq] * self._signed[pt], self._base[pt]
            for a, (part, s, e) in enumerate(self.layout.arrays):
                analog = product[:, s:e].sum(axis=1)
                analog += base[:, a]
                analog *= np.float32(self._scale[a])
                out[part, p0:p0 + len(pq)] += self._digital_inplace(a, analog)
        return out

    def _digital(self, a: int, analog: np.ndarray) -> np.ndarray:
        """What array ``a``'s ADC hands the digital side for analog distances (identity without ADC)."""
        if not self.use_adc:
            return analog
        return self._readout[a][_level_index(analog, self._max_distance[a])]

    def _check_rows(self, rows: np.ndarray, name: str) -> np.ndarray:
        """``rows`` as int64 table indices, or a ValueError naming the argument."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= self.n_rows)):
            raise ValueError(f"{name} must be a 1-D array of table row indices in [0, {self.n_rows - 1}]")
        return rows

    def distances(self, queries: np.ndarray, rows: np.ndarray | None = None, chunk_rows: int = 4096) -> np.ndarray:
        """Circuit-reported distances [Q, R] (float32) of ``queries`` [Q, D] to table ``rows`` (default: all)."""
        q = self.layout.encode(queries, "queries").astype(np.float32)
        rows = np.arange(self.n_rows) if rows is None else self._check_rows(rows, "rows")
        out = np.empty((q.shape[0], len(rows)), dtype=np.float32)
        for c0 in range(0, len(rows), chunk_rows):
            idx = rows[c0:c0 + chunk_rows]
            signed, base = self._signed[idx], self._base[idx]
            total = np.zeros((q.shape[0], len(idx)), dtype=np.float32)
            for a, (part, s, e) in enumerate(self.layout.arrays):
                analog = (base[None, :, a] + q[:, s:e] @ signed[:, s:e].T) * self._scale[a]
                total += self.part_weight[part] * self._digital(a, analog)
            out[:, c0:c0 + len(idx)] = total
        return out

    def pair_distances(self, queries: np.ndarray, query_rows: np.ndarray, table_rows: np.ndarray,
                       chunk_pairs: int = 32768) -> np.ndarray:
        """Circuit distance of each pair ``(queries[query_rows[i]], table row table_rows[i])``, float32 ``[P]``.

        The shape a tree's leaf scan uses (each query scans its own leaves, cf. ``mbi.search.distance.pair_distances``).
        """
        q = self.layout.encode(queries, "queries").astype(np.float32)
        qi, ti = np.asarray(query_rows, dtype=np.int64), self._check_rows(table_rows, "table_rows")
        if qi.shape != ti.shape or (qi.size and (qi.min() < 0 or qi.max() >= len(q))):
            raise ValueError(f"query_rows must match table_rows in length and index the {len(q)} queries")
        out = np.empty(len(qi), dtype=np.float32)
        for p0 in range(0, len(qi), chunk_pairs):
            pq, pt = qi[p0:p0 + chunk_pairs], ti[p0:p0 + chunk_pairs]
            product, base = q[pq] * self._signed[pt], self._base[pt]
            total = np.zeros(len(pq), dtype=np.float32)
            for a, (part, s, e) in enumerate(self.layout.arrays):
                analog = (base[:, a] + product[:, s:e].sum(axis=1)) * self._scale[a]
                total += self.part_weight[part] * self._digital(a, analog)
            out[p0:p0 + len(pq)] = total
        return out

    def nearest(self, queries: np.ndarray, rows: np.ndarray | None = None,
                chunk_rows: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Index (into ``rows``, first one on ties) and distance of the circuit's closest row per query."""
        rows = np.arange(self.n_rows) if rows is None else self._check_rows(rows, "rows")
        n_q = len(np.asarray(queries))
        best_i, best_d = np.zeros(n_q, dtype=np.int64), np.full(n_q, np.inf, dtype=np.float32)
        for c0 in range(0, len(rows), chunk_rows):
            d = self.distances(queries, rows[c0:c0 + chunk_rows], chunk_rows)
            i = d.argmin(axis=1)
            v = d[np.arange(n_q), i]
            better = v < best_d
            best_i[better], best_d[better] = c0 + i[better], v[better]
        return best_i, best_d


def circuit_distances(keys: np.ndarray, queries: np.ndarray, parts: Sequence[KeyPart],
                      weights: Sequence[float] | None = None, *, encoding: Encoding = "binary",
                      sigma_vth_v: float = 0.06, adc_bits: int = 5, array_rows: int = 32, array_cols: int = 32,
                      seed: int = 0, config: SRAMConfig | None = None) -> np.ndarray:
    """Distances [Q, N] the circuit reports between integer ``queries`` [Q, D] and ``keys`` [N, D].

    The one-call entry point for accuracy-vs-non-ideality sweeps: lays ``parts`` out in ``encoding``
    on ``array_rows x array_cols`` arrays, freezes per-cell V_TH variation of ``sigma_vth_v`` drawn
    from ``seed``, digitizes every array with an ``adc_bits`` ADC and combines arrays with the part
    ``weights`` (a, b, c) as in eq. (1). Other electrical parameters come from ``config``. To query
    one table repeatedly (e.g. per tree leaf), build a :class:`CircuitTable` once instead.
    """
    base = config or SRAMConfig()
    cfg = replace(base, sigma_vth_v=sigma_vth_v, adc_bits=adc_bits, rows=array_rows, cols=array_cols)
    return CircuitTable(keys, parts, weights=weights, encoding=encoding, config=cfg, seed=seed).distances(queries)


# --------------------------------------------------------------------------- what the circuit computes vs eq. (1)


def ideal_distances(keys: np.ndarray, queries: np.ndarray, parts: Sequence[KeyPart],
                    weights: Sequence[float] | None = None, encoding: Encoding = "binary") -> np.ndarray:
    """Variation-free, ADC-free distance [Q, N]: per part the weighted count of differing columns.

    Binary encoding gives the bit-significance-weighted Hamming distance (``sum k XOR q``);
    thermometer encoding gives the Manhattan distance on levels, i.e. exactly eq. (1).
    """
    layout = build_layout(parts, encoding, 1)
    kb = layout.encode(keys, "keys").astype(np.float64)
    qb = layout.encode(queries, "queries").astype(np.float64)
    part_weight = _normalized_weights(weights, len(layout.parts))
    out = np.zeros((qb.shape[0], kb.shape[0]))
    start = 0
    for p, part in enumerate(layout.parts):
        stop = start + part.count * len(element_column_weights(part.levels, encoding))
        w = layout.column_weight[start:stop].astype(np.float64)
        k, q = kb[:, start:stop], qb[:, start:stop]
        out += part_weight[p] * ((k @ w)[None, :] + (q @ w)[:, None] - 2.0 * (q * w) @ k.T)
        start = stop
    return out


@dataclass(frozen=True)
class EncodingComparison:
    """How far the circuit's ideal distance in one encoding strays from eq. (1) on given keys and queries."""

    encoding: str
    element_mismatch_share: dict[str, float]  # per part: share of (key, query, element) triples with value != |K-Q|
    pair_mismatch_share: float  # share of (query, key) pairs whose weighted distance differs from eq. (1)
    nearest_agreement: float  # share of queries whose circuit-nearest key is also an eq. (1)-nearest key
    mean_regret: float  # mean eq. (1) distance of the circuit's pick minus the true minimum
    columns_per_key: int
    arrays_per_key: int


def compare_with_eq1(keys: np.ndarray, queries: np.ndarray, parts: Sequence[KeyPart],
                     weights: Sequence[float] | None = None, encoding: Encoding = "binary",
                     array_cols: int = 32, chunk_rows: int = 4096) -> EncodingComparison:
    """Compare the array's ideal distance in ``encoding`` with eq. (1) on real or synthetic tables.

    Keys [N, D] and queries [Q, D] are integer levels per part (same order as ``parts`` and
    ``weights``). Nearest-key agreement uses the first index on ties, like an argmin scan.
    """
    keys, queries = np.asarray(keys), np.asarray(queries)
    layout = build_layout(parts, encoding, array_cols)
    layout.encode(keys, "keys")  # shape and level checks with a clear message
    layout.encode(queries, "queries")
    shares, start = {}, 0
    for part in layout.parts:
        differs = element_distance_table(part.levels, encoding) != np.abs(np.subtract.outer(
            np.arange(part.levels), np.arange(part.levels)))
        hit = 0.0
        for e in range(start, start + part.count):
            hk = np.bincount(keys[:, e], minlength=part.levels)
            hq = np.bincount(queries[:, e], minlength=part.levels)
            hit += float(hk @ differs @ hq)
        shares[part.name] = hit / (part.count * len(keys) * len(queries))
        start += part.count
    n_q = len(queries)
    mismatched = 0
    best_circ = np.full(n_q, np.inf)
    best_circ_eq1 = np.zeros(n_q)
    best_eq1 = np.full(n_q, np.inf)
    for c0 in range(0, len(keys), chunk_rows):
        chunk = keys[c0:c0 + chunk_rows]
        circ = ideal_distances(chunk, queries, parts, weights, encoding)
        eq1 = ideal_distances(chunk, queries, parts, weights, "thermometer")
        mismatched += int((np.abs(circ - eq1) > 1e-9).sum())
        i = circ.argmin(axis=1)
        v = circ[np.arange(n_q), i]
        better = v < best_circ
        best_circ[better], best_circ_eq1[better] = v[better], eq1[np.arange(n_q), i][better]
        best_eq1 = np.minimum(best_eq1, eq1.min(axis=1))
    regret = best_circ_eq1 - best_eq1
    return EncodingComparison(encoding, shares, mismatched / (len(keys) * n_q), float(np.mean(regret <= 1e-9)),
                              float(regret.mean()), layout.n_columns, layout.n_arrays)


def synthetic_table(parts: Sequence[KeyPart], n_keys: int, n_queries: int, *, clustered: bool = False,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random integer keys [n_keys, D] and queries [n_queries, D] for measuring encodings before real tables exist.

    ``clustered=False``: keys and queries uniform over each part's levels. ``clustered=True``
    (structured, closer to a distilled table): keys and queries are noisy copies of ``n_keys // 16``
    random prototypes, every element moved one level up or down with probability 1/4, so a query's
    nearest keys differ from it by small steps, where 1-vs-2 style mistakes of binary coding bite.
    """
    rng = np.random.default_rng(seed)
    levels = np.concatenate([np.full(p.count, p.levels) for p in parts])
    if not clustered:
        return (rng.integers(0, levels, size=(n_keys, len(levels))),
                rng.integers(0, levels, size=(n_queries, len(levels))))
    prototypes = rng.integers(0, levels, size=(max(1, n_keys // 16), len(levels)))

    def noisy_copies(n: int) -> np.ndarray:
        base = prototypes[rng.integers(0, len(prototypes), size=n)]
        step = rng.choice([-1, 1], size=base.shape) * (rng.random(base.shape) < 0.25)
        return np.clip(base + step, 0, levels - 1)

    return noisy_copies(n_keys), noisy_copies(n_queries)


__all__ = [
    "ENCODINGS", "ArrayLayout", "CircuitTable", "EncodingComparison", "KeyPart", "LevelStats", "SRAMConfig",
    "adc_level_codes", "adc_level_values", "build_layout", "cell_drop_v", "characterization_weights",
    "circuit_distances", "compare_with_eq1", "device_drive", "discharge", "element_column_weights",
    "element_distance_table", "encode_elements", "ideal_distances", "key_parts_from_layout", "key_parts_from_ram",
    "level_statistics", "nominal_discharge_v", "sample_patterns", "stack_drive", "synthetic_table",
]
