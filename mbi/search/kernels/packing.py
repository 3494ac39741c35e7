"""Packing keys into thermometer-code words and summing key columns per group (the pruned search's index)."""

from __future__ import annotations

import numpy as np
from numba import njit


_BYTE_HALVES = (np.uint64(0x0F0F0F0F0F0F0F0F), np.uint64(0x3333333333333333), np.uint64(0x5555555555555555))


@njit(cache=True, nogil=True, inline="always")
def _reverse_bits_in_bytes(x: np.uint64) -> np.uint64:
    """Each byte of ``x`` with its bits in reverse order (swap nibbles, then pairs, then bits)."""
    m4, m2, m1 = _BYTE_HALVES
    x = ((x >> np.uint64(4)) & m4) | ((x & m4) << np.uint64(4))
    x = ((x >> np.uint64(2)) & m2) | ((x & m2) << np.uint64(2))
    return ((x >> np.uint64(1)) & m1) | ((x & m1) << np.uint64(1))


@njit(cache=True, nogil=True)
def pack_rows_block(keys: np.ndarray, col_start: np.ndarray, bits_per_value: np.ndarray, word_start: np.ndarray,
                    start: int, stop: int, out: np.ndarray) -> None:
    """Thermometer codes of keys ``start:stop`` into ``out`` (row-major ``uint64 [N, W]``, zeroed).

    Part ``p`` has columns ``col_start[p]:col_start[p + 1]`` of ``keys`` (uint8 [N, D]),
    ``bits_per_value[p]`` = levels - 1 bits per value and starts at word ``word_start[p]``.
    Value ``v`` of the ``i``-th column of a part sets bits ``i * bits + j`` for ``j < v``, placed as
    :func:`numpy.packbits` places them (bit ``k`` of a word in byte ``k // 8``, most significant
    bit first), so ``out`` equals :func:`mbi.search.distance.pack`'s words, transposed. The runs of
    ones are set a word at a time in natural bit order, then each byte is bit-reversed.
    """
    one = np.uint64(1)
    for r in range(start, stop):
        for p in range(3):
            nb = bits_per_value[p]
            w0 = word_start[p]
            for i in range(col_start[p + 1] - col_start[p]):
                bit = i * nb
                end = bit + np.int64(keys[r, col_start[p] + i])
                while bit < end:
                    low = bit & 63
                    n = min(end - bit, 64 - low)
                    ones = ~np.uint64(0) if n == 64 else (one << np.uint64(n)) - one
                    out[r, w0 + (bit >> 6)] |= ones << np.uint64(low)
                    bit += n
        for w in range(out.shape[1]):
            out[r, w] = _reverse_bits_in_bytes(out[r, w])


@njit(cache=True, nogil=True)
def group_sums_block(keys: np.ndarray, column_group: np.ndarray, start: int, stop: int, out: np.ndarray) -> None:
    """``out[r, g]`` = sum of ``keys[r, col]`` over the columns with ``column_group[col] == g`` (-1: none)."""
    for r in range(start, stop):
        for col in range(keys.shape[1]):
            g = column_group[col]
            if g >= 0:
                out[r, g] += keys[r, col]
