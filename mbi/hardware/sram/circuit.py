"""Behavioural model of the 10T SRAM in-memory search array (paper Sec. III-D, Fig. 6).

What the array does, step by step (paper Fig. 6(a)):

1. Keys are stored row-wise; an element with p-bit binary code uses p columns, LSB first.
   Column j of an element is precharged to ``V_P,max / 2**(p-j-1)`` (both BL and BLB).
2. One row is selected and the query bits drive the read ports. Each cell has two
   discharge paths, each a stack of two minimum-size NMOS: BL discharges only when
   ``k=1, q=0`` and BLB only when ``k=0, q=1``. A path that conducts for the
   discharge time ``t_d`` pulls its line down; how far depends on its transistors'
   threshold voltages (see :mod:`~mbi.hardware.sram.device`).
3. Charge sharing averages all BLs onto SLP and all BLBs onto SLN (eq. 2a, 2b);
   the ADC digitizes ``(V_SLP + V_SLN) / 2``, which falls linearly with the
   bit-significance-weighted number of differing bits.
4. The ADC code of each array is multiplied by its part's digital weight (a, b, c
   of eq. 1) and the partitions of a key spread over several arrays are summed.

This module stores a table in the arrays (:class:`CircuitTable`) and compares what the array
computes with eq. (1); the pieces it is built from live in :mod:`~mbi.hardware.sram.device`
(transistors, bit lines), :mod:`~mbi.hardware.sram.encoding` (element encodings, layout) and
:mod:`~mbi.hardware.sram.levels` (ADC levels, level statistics).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from mbi.hardware.sram.device import SRAMConfig, _sample_vth, cell_drop_v, nominal_discharge_v
from mbi.hardware.sram.encoding import (Encoding, KeyPart, build_layout, element_column_weights,
                                        element_distance_table)
from mbi.hardware.sram.levels import _level_index, adc_level_values

_VTH_BLOCK_ROWS = 1024
"""Table rows per random stream: a row's cells get the same V_TH whatever subset is queried."""


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
