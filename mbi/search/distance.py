"""Key distance of eq. (1): weighted Manhattan over the patch, hidden and location parts.

A lookup-table key is a row of small integers (``uint8``) laid out as
``[patch elements | hidden elements | location (row, col)]`` (:class:`KeyLayout`).
The paper's distance between a query ``q`` and a key ``k`` is

    D(q, k) = (a * M(q_p, k_p) + b * M(q_h, k_h) + c * M(q_l, k_l)) / (a + b + c)      (1)

with ``M`` the Manhattan distance on integer levels and ``(a, b, c)`` the weights
that Bayesian optimisation tunes.

Two implementations live here and agree *exactly* (bit for bit):

* :func:`distances_reference` is the obviously-correct one: integer ``|q - k|`` sums
  per part, then :func:`combine`.
* the packed kernel (:func:`pack`, :func:`packed_distances`, :func:`nearest`,
  :func:`pair_distances`) writes every element as a thermometer code (an ``L``-level
  value ``v`` becomes ``L - 1`` bits of which the first ``v`` are ones), so that
  ``|u - v|`` equals the Hamming distance of the codes. Each part is packed into its
  own ``uint64`` words; the per-part Manhattan distance is the popcount of the XOR
  (SWAR popcount, numpy < 2 has no ``bitwise_count``). The integer partial sums then go
  through the same :func:`combine`, hence identical floating-point results.

The table is stored word-major (``[words, rows]``) and processed in cache-sized chunks,
so that a brute-force search streams the packed table once per block of queries.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mbi.search.weights import Weights, check_weights

if TYPE_CHECKING:
    from mbi.config import RAMConfig

PARTS = ("patch", "hidden", "location")
"""Names of the three key parts, in column order."""

MAX_PART_BITS = 65535
"""Largest thermometer width of one part (the popcount sums a part in 16-bit lanes)."""

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_M8 = np.uint64(0x00FF00FF00FF00FF)
_H8 = np.uint64(0x0101010101010101)
_H16 = np.uint64(0x0001000100010001)
_S1, _S2, _S4, _S8 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(8)
_S48, _S56 = np.uint64(48), np.uint64(56)
_NIBBLE_GROUP = 3  # words whose per-nibble counts (<= 4 each) fit a nibble when summed
_BYTE_GROUP = 30  # words (10 nibble groups, <= 24 per byte each) whose byte counts fit a byte

_CHUNK_ROWS = 8192  # table rows per chunk: 8192 rows x a few words (a few 100 KiB) stay in cache
_CHUNK_QUERIES = 4  # queries per chunk: 4 x 8192 uint64 temporaries = 256 KiB each (measured best)
_CHUNK_PAIRS = 32768  # (query, row) pairs per chunk in pair_distances


@dataclass(frozen=True)
class KeyLayout:
    """Column layout of integer keys ``[patch | hidden | location (row, col)]``.

    Attributes:
        patch_len: number of patch elements (``num_patches * patch_size**2``).
        patch_levels: levels of a patch element, ``2**patch_bits`` (4 for 2-bit patches).
        hidden_len: hidden-state width.
        hidden_levels: levels of a hidden element, ``2**hidden_bits`` (2 for 1-bit states).
        loc_levels: location grid size ``G``; the location part is two ints in ``0..G-1``.
    """

    patch_len: int
    patch_levels: int
    hidden_len: int
    hidden_levels: int
    loc_levels: int

    def __post_init__(self) -> None:
        checks = (
            ("patch_len", self.patch_len, 1, None),
            ("hidden_len", self.hidden_len, 1, None),
            ("patch_levels", self.patch_levels, 2, 256),
            ("hidden_levels", self.hidden_levels, 2, 256),
            ("loc_levels", self.loc_levels, 1, 256),
        )
        for name, value, low, high in checks:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"KeyLayout.{name} must be an int, got {type(value).__name__}")
            if value < low or (high is not None and value > high):
                allowed = f">= {low}" if high is None else f"in {low}..{high}"
                raise ValueError(f"KeyLayout.{name} must be {allowed} (keys are uint8), got {value}")
        for part, bits in zip(PARTS, self.part_bits):
            if bits > MAX_PART_BITS:
                raise ValueError(
                    f"KeyLayout: the {part} part needs {bits} thermometer bits, more than the "
                    f"{MAX_PART_BITS} the packed kernel supports; use fewer elements or levels"
                )

    @property
    def width(self) -> int:
        """Number of key columns ``D``."""
        return self.patch_len + self.hidden_len + 2

    @property
    def patch_cols(self) -> slice:
        """Columns of the patch part."""
        return slice(0, self.patch_len)

    @property
    def hidden_cols(self) -> slice:
        """Columns of the hidden-state part."""
        return slice(self.patch_len, self.patch_len + self.hidden_len)

    @property
    def loc_cols(self) -> slice:
        """Columns of the location part (row, col)."""
        return slice(self.patch_len + self.hidden_len, self.width)

    @property
    def part_cols(self) -> tuple[slice, slice, slice]:
        """Column slices of (patch, hidden, location)."""
        return (self.patch_cols, self.hidden_cols, self.loc_cols)

    @property
    def part_levels(self) -> tuple[int, int, int]:
        """Levels of one element of (patch, hidden, location)."""
        return (self.patch_levels, self.hidden_levels, self.loc_levels)

    @property
    def part_bits(self) -> tuple[int, int, int]:
        """Thermometer bits of (patch, hidden, location) = elements x (levels - 1).

        This is also the largest Manhattan distance each part can reach.
        """
        return (
            self.patch_len * (self.patch_levels - 1),
            self.hidden_len * (self.hidden_levels - 1),
            2 * (self.loc_levels - 1),
        )

    def max_distance(self, weights: Sequence[float]) -> float:
        """Largest value eq. (1) can take for this layout and these weights."""
        return float(combine(*(np.array([b], dtype=np.float64) for b in self.part_bits), weights=weights)[0])

    def check_keys(self, keys: np.ndarray, name: str = "keys") -> np.ndarray:
        """Return ``keys`` as a C-contiguous ``uint8`` array ``[N, D]``, or raise a clear error.

        Accepts any integer array (or a single key of shape ``[D]``, returned as ``[1, D]``)
        whose values fit the levels of their part.
        """
        arr = np.asarray(keys)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array [rows, {self.width}], got shape {arr.shape}")
        if arr.shape[1] != self.width:
            raise ValueError(
                f"{name} has {arr.shape[1]} columns but the layout needs {self.width} "
                f"(patch {self.patch_len} + hidden {self.hidden_len} + location 2)"
            )
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers (levels), got dtype {arr.dtype}")
        if arr.size:
            for part, cols, levels in zip(PARTS, self.part_cols, self.part_levels):
                block = arr[:, cols]
                low, high = int(block.min()), int(block.max())
                if low < 0 or high >= levels:
                    bad = low if low < 0 else high
                    raise ValueError(
                        f"{name}: {part} values must be in 0..{levels - 1} for this layout, found {bad}"
                    )
        return np.ascontiguousarray(arr, dtype=np.uint8)


def key_layout(ram: "RAMConfig") -> KeyLayout:
    """The key layout of a quantized RAM: the one place keys are derived from a :class:`mbi.config.RAMConfig`.

    Patch: ``num_patches * patch_size**2`` elements of ``2**patch_bits`` levels; hidden: ``state_size``
    elements of ``2**hidden_bits`` levels; location: 2 indices on the ``loc_grid`` grid.
    """
    if ram.patch_bits is None or ram.hidden_bits is None:
        raise ValueError(
            "lookup tables need a quantized RAM: patch_bits and hidden_bits must be integers, "
            f"got patch_bits={ram.patch_bits}, hidden_bits={ram.hidden_bits}"
        )
    return KeyLayout(ram.patch_vector_len, 2**ram.patch_bits, ram.state_size, 2**ram.hidden_bits, ram.loc_grid)


def combine(
    patch: np.ndarray, hidden: np.ndarray, location: np.ndarray, weights: Sequence[float],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Eq. (1) from integer per-part Manhattan distances (arrays of one shape), in float64.

    Both implementations call this one function, so their results agree bit for bit:
    ``((a * M_p + b * M_h) + c * M_l) / (a + b + c)``, each step an IEEE float64 operation.
    ``out`` (float64, the inputs' shape) avoids an allocation in hot loops.
    """
    a, b, c = check_weights(weights)
    patch = np.asarray(patch)
    if out is None:
        out = np.empty(patch.shape, dtype=np.float64)
    return _combine_into(patch, hidden, location, (a, b, c), out, np.empty(patch.shape, dtype=np.float64))


def _combine_into(
    patch: np.ndarray, hidden: np.ndarray, location: np.ndarray, weights: Weights,
    out: np.ndarray, tmp: np.ndarray,
) -> np.ndarray:
    """The arithmetic of :func:`combine` with caller-provided float64 buffers, no validation."""
    a, b, c = weights
    np.multiply(a, patch, out=out, dtype=np.float64)
    np.multiply(b, hidden, out=tmp, dtype=np.float64)
    np.add(out, tmp, out=out)
    np.multiply(c, location, out=tmp, dtype=np.float64)
    np.add(out, tmp, out=out)
    np.divide(out, (a + b) + c, out=out)
    return out


# --------------------------------------------------------------------------- reference


def part_distances_reference(
    queries: np.ndarray, keys: np.ndarray, layout: KeyLayout
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-part Manhattan distances ``[Q, N]`` (int64) by plain ``|q - k|`` sums."""
    q = layout.check_keys(queries, "queries").astype(np.int64)
    k = layout.check_keys(keys).astype(np.int64)
    parts = tuple(np.abs(q[:, None, cols] - k[None, :, cols]).sum(axis=2) for cols in layout.part_cols)
    return parts  # type: ignore[return-value]


def distances_reference(
    queries: np.ndarray, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float]
) -> np.ndarray:
    """Eq. (1) distances ``[Q, N]`` (float64), the plain reference implementation."""
    return combine(*part_distances_reference(queries, keys, layout), weights=weights)


# --------------------------------------------------------------------------- packing


def thermometer(keys: np.ndarray, layout: KeyLayout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thermometer codes of (patch, hidden, location), each a bool array ``[N, part_bits]``.

    Element value ``v`` with ``L`` levels becomes ``L - 1`` bits, bit ``j`` set iff ``v > j``,
    so ``|u - v|`` equals the Hamming distance between the codes of ``u`` and ``v``.
    """
    k = layout.check_keys(keys)
    codes = []
    for cols, levels in zip(layout.part_cols, layout.part_levels):
        thresholds = np.arange(levels - 1, dtype=np.uint8)
        codes.append((k[:, cols, None] > thresholds).reshape(len(k), -1))
    return tuple(codes)  # type: ignore[return-value]


@dataclass(frozen=True)
class PackedKeys:
    """Keys as thermometer bits packed in ``uint64`` words, one block of words per part.

    Attributes:
        words: ``uint64 [n_words, n_rows]``, word-major so one word of all rows is contiguous.
        part_words: word slices of (patch, hidden, location) inside ``words``; padding bits are 0.
        layout: the key layout the words encode.
    """

    words: np.ndarray
    part_words: tuple[slice, slice, slice]
    layout: KeyLayout

    @property
    def n_rows(self) -> int:
        """Number of packed keys."""
        return int(self.words.shape[1])

    @property
    def n_words(self) -> int:
        """Number of 64-bit words per key (all parts)."""
        return int(self.words.shape[0])

    def take(self, rows: np.ndarray) -> "PackedKeys":
        """The packed keys of ``rows`` (any integer index array), as a new contiguous table."""
        return PackedKeys(np.ascontiguousarray(self.words[:, rows]), self.part_words, self.layout)

    def row_bytes(self) -> np.ndarray:
        """Row-major ``uint8 [n_rows, 8 * n_words]`` codes (the input format of faiss binary indexes)."""
        return np.ascontiguousarray(self.words.T).view(np.uint8)


def part_word_slices(layout: KeyLayout) -> tuple[slice, slice, slice]:
    """Word slices of each part when every part starts on a fresh 64-bit word."""
    slices, start = [], 0
    for bits in layout.part_bits:
        n = -(-bits // 64)
        slices.append(slice(start, start + n))
        start += n
    return tuple(slices)  # type: ignore[return-value]


def pack(keys: np.ndarray, layout: KeyLayout, chunk_rows: int = 65536) -> PackedKeys:
    """Pack integer keys ``[N, D]`` into :class:`PackedKeys` (works in row chunks to bound memory)."""
    k = layout.check_keys(keys)
    part_words = part_word_slices(layout)
    n_words = part_words[-1].stop
    words = np.zeros((n_words, len(k)), dtype=np.uint64)
    for start in range(0, len(k), chunk_rows):
        block = k[start:start + chunk_rows]
        for code, ws in zip(thermometer(block, layout), part_words):
            n = ws.stop - ws.start
            if n == 0:
                continue
            padded = np.zeros((len(block), n * 64), dtype=bool)
            padded[:, :code.shape[1]] = code
            packed = np.packbits(padded, axis=1).view(np.uint64)  # [rows, n]
            words[ws, start:start + len(block)] = packed.T
    return PackedKeys(words, part_words, layout)


# --------------------------------------------------------------------------- popcount kernel


class _Scratch:
    """Preallocated temporaries for the popcount kernel (one per thread, reused per chunk)."""

    def __init__(self, size: int) -> None:
        self.x = np.empty(size, dtype=np.uint64)
        self.t = np.empty(size, dtype=np.uint64)
        self.nib = np.empty(size, dtype=np.uint64)
        self.acc = np.empty(size, dtype=np.uint64)
        self.wide = np.empty(size, dtype=np.uint64)
        self.counts = tuple(np.empty(size, dtype=np.uint64) for _ in PARTS)
        self.dist = np.empty(size, dtype=np.float64)
        self.tmp = np.empty(size, dtype=np.float64)

    def view(self, buf: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The first ``prod(shape)`` elements of ``buf`` shaped as ``shape``."""
        return buf[: math.prod(shape)].reshape(shape)


def _nibble_counts(a: np.ndarray, b: np.ndarray, dst: np.ndarray, t: np.ndarray) -> None:
    """``dst`` = per-nibble popcount (0..4) of ``a ^ b`` (first two SWAR steps)."""
    np.bitwise_xor(a, b, out=dst)
    np.right_shift(dst, _S1, out=t)
    np.bitwise_and(t, _M1, out=t)
    np.subtract(dst, t, out=dst)
    np.right_shift(dst, _S2, out=t)
    np.bitwise_and(t, _M2, out=t)
    np.bitwise_and(dst, _M2, out=dst)
    np.add(dst, t, out=dst)


def _xor_popcount(
    a_words: Sequence[np.ndarray], b_words: Sequence[np.ndarray], bits: int,
    shape: tuple[int, ...], scratch: _Scratch, out: np.ndarray,
) -> np.ndarray:
    """``out = sum_w popcount(a_words[w] ^ b_words[w])`` over one part (SWAR popcount).

    Each ``a_words[w] ^ b_words[w]`` broadcasts to ``shape``. Nibble counts of up to 3 words
    are added before the byte step, byte counts of up to 30 words before the horizontal add;
    parts wider than 255 bits add bytes in 16-bit lanes first. ``out`` is uint64.
    """
    n_words = len(a_words)
    if not n_words:
        out.fill(0)
        return out
    x, t = scratch.view(scratch.x, shape), scratch.view(scratch.t, shape)
    nib, acc = scratch.view(scratch.nib, shape), scratch.view(scratch.acc, shape)
    wide = scratch.view(scratch.wide, shape)
    for g in range(0, n_words, _BYTE_GROUP):
        for n in range(g, min(g + _BYTE_GROUP, n_words), _NIBBLE_GROUP):
            target = acc if n == g else nib
            _nibble_counts(a_words[n], b_words[n], target, t)
            for w in range(n + 1, min(n + _NIBBLE_GROUP, g + _BYTE_GROUP, n_words)):
                _nibble_counts(a_words[w], b_words[w], x, t)
                np.add(target, x, out=target)
            np.right_shift(target, _S4, out=t)
            np.bitwise_and(t, _M4, out=t)
            np.bitwise_and(target, _M4, out=target)
            np.add(target, t, out=target)  # per-byte counts, <= 24
            if target is nib:
                np.add(acc, nib, out=acc)
        if bits <= 255:  # a single group whose byte sum cannot overflow
            np.multiply(acc, _H8, out=out)
            np.right_shift(out, _S56, out=out)
            return out
        np.right_shift(acc, _S8, out=t)
        np.bitwise_and(t, _M8, out=t)
        np.bitwise_and(acc, _M8, out=acc)
        np.add(acc, t, out=acc)  # per-16-bit-lane counts
        if g == 0:
            wide[...] = acc
        else:
            np.add(wide, acc, out=wide)
    np.multiply(wide, _H16, out=out)
    np.right_shift(out, _S48, out=out)
    return out


def _part_counts(
    a: PackedKeys, a_index: np.ndarray | slice, b: PackedKeys, b_index: np.ndarray | slice,
    shape: tuple[int, ...], scratch: _Scratch, broadcast: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-part Hamming counts between rows ``a_index`` of ``a`` and rows ``b_index`` of ``b``.

    ``broadcast=True`` gives all pairs ``[len(a_index), len(b_index)]``; otherwise the rows are
    paired elementwise (both indexes have the same length).
    """
    counts = []
    for p, (ws, bits) in enumerate(zip(a.part_words, a.layout.part_bits)):
        aw = a.words[ws][:, a_index]
        bw = b.words[ws][:, b_index]
        if broadcast:
            aw, bw = aw[:, :, None], bw[:, None, :]
        out = scratch.view(scratch.counts[p], shape)
        counts.append(_xor_popcount(aw, bw, bits, shape, scratch, out).view(np.int64))  # counts < 2**16
    return tuple(counts)  # type: ignore[return-value]


def _check_same_layout(queries: PackedKeys, table: PackedKeys) -> None:
    """Refuse to compare keys packed with different layouts."""
    if queries.layout != table.layout:
        raise ValueError(f"queries and table were packed with different layouts: {queries.layout} vs {table.layout}")


def packed_part_distances(
    queries: PackedKeys, table: PackedKeys
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-part Manhattan distances ``[Q, N]`` (int64) with the packed popcount kernel."""
    _check_same_layout(queries, table)
    nq, nk = queries.n_rows, table.n_rows
    out = tuple(np.empty((nq, nk), dtype=np.int64) for _ in PARTS)
    scratch = _Scratch(_CHUNK_QUERIES * _CHUNK_ROWS)
    for r in range(0, nk, _CHUNK_ROWS):
        rs = slice(r, min(r + _CHUNK_ROWS, nk))
        for q in range(0, nq, _CHUNK_QUERIES):
            qs = slice(q, min(q + _CHUNK_QUERIES, nq))
            shape = (qs.stop - qs.start, rs.stop - rs.start)
            for o, c in zip(out, _part_counts(queries, qs, table, rs, shape, scratch, broadcast=True)):
                o[qs, rs] = c
    return out  # type: ignore[return-value]


def packed_distances(queries: PackedKeys, table: PackedKeys, weights: Sequence[float]) -> np.ndarray:
    """Eq. (1) distances ``[Q, N]`` (float64) with the packed kernel; equal to the reference."""
    return combine(*packed_part_distances(queries, table), weights=weights)


def pair_distances(
    queries: PackedKeys, query_rows: np.ndarray, table: PackedKeys, table_rows: np.ndarray,
    weights: Sequence[float],
) -> np.ndarray:
    """Eq. (1) distance of each pair ``(queries[query_rows[i]], table[table_rows[i]])``, float64 ``[P]``.

    Used to scan the leaves a tree search selected, for many queries at once.
    """
    _check_same_layout(queries, table)
    weights = check_weights(weights)
    query_rows, table_rows = np.asarray(query_rows), np.asarray(table_rows)
    if query_rows.shape != table_rows.shape or query_rows.ndim != 1:
        raise ValueError("query_rows and table_rows must be 1-D arrays of the same length")
    out = np.empty(len(query_rows), dtype=np.float64)
    scratch = _Scratch(_CHUNK_PAIRS)
    for s in range(0, len(query_rows), _CHUNK_PAIRS):
        qi, ti = query_rows[s:s + _CHUNK_PAIRS], table_rows[s:s + _CHUNK_PAIRS]
        counts = _part_counts(queries, qi, table, ti, (len(qi),), scratch, broadcast=False)
        _combine_into(*counts, weights, out[s:s + len(qi)], scratch.view(scratch.tmp, (len(qi),)))
    return out


def _nearest_block(
    queries: PackedKeys, qs: slice, table: PackedKeys, weights: Weights,
    best_index: np.ndarray, best_dist: np.ndarray,
) -> None:
    """Nearest table row for queries ``qs``, streaming the table in chunks (writes the outputs)."""
    nk = table.n_rows
    scratch = _Scratch(_CHUNK_QUERIES * _CHUNK_ROWS)
    for r in range(0, nk, _CHUNK_ROWS):
        rs = slice(r, min(r + _CHUNK_ROWS, nk))
        for q in range(qs.start, qs.stop, _CHUNK_QUERIES):
            qc = slice(q, min(q + _CHUNK_QUERIES, qs.stop))
            shape = (qc.stop - qc.start, rs.stop - rs.start)
            counts = _part_counts(queries, qc, table, rs, shape, scratch, broadcast=True)
            dist = _combine_into(*counts, weights, scratch.view(scratch.dist, shape), scratch.view(scratch.tmp, shape))
            local = dist.argmin(axis=1)  # first minimum = lowest row inside the chunk
            local_dist = dist[np.arange(shape[0]), local]
            better = local_dist < best_dist[qc]  # strict: an earlier chunk keeps a tie
            best_dist[qc] = np.where(better, local_dist, best_dist[qc])
            best_index[qc] = np.where(better, local + r, best_index[qc])


def default_threads() -> int:
    """CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def nearest(
    queries: PackedKeys, table: PackedKeys, weights: Sequence[float], n_threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exhaustive nearest table row per query under eq. (1): ``(index int64 [Q], distance float64 [Q])``.

    Ties go to the lowest row index. The table is streamed in chunks of ``_CHUNK_ROWS`` rows
    against blocks of queries; ``n_threads`` threads (default: all usable cores) each take a
    contiguous block of queries (numpy releases the GIL inside the popcount ufuncs).
    An empty table raises ``ValueError``.
    """
    _check_same_layout(queries, table)
    weights = check_weights(weights)
    if table.n_rows == 0:
        raise ValueError("cannot search an empty table")
    n_threads = default_threads() if n_threads is None else n_threads
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    nq = queries.n_rows
    best_index = np.zeros(nq, dtype=np.int64)
    best_dist = np.full(nq, np.inf)
    bounds = np.linspace(0, nq, min(n_threads, max(nq, 1)) + 1).astype(int)
    blocks = [slice(int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:]) if e > s]
    if len(blocks) <= 1:
        for qs in blocks:
            _nearest_block(queries, qs, table, weights, best_index, best_dist)
    else:
        with ThreadPoolExecutor(len(blocks)) as pool:
            list(pool.map(lambda qs: _nearest_block(queries, qs, table, weights, best_index, best_dist), blocks))
    return best_index, best_dist
