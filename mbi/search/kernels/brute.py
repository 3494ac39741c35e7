"""The full scan: exact nearest row of every query over all rows (:class:`mbi.search.exact.CompiledBruteForce`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from mbi.search.kernels.ops import BLOCK, _block_distances


@njit(cache=True, nogil=True)
def brute_block(table: np.ndarray, parts: np.ndarray, queries: np.ndarray, weights: np.ndarray,
                q_start: int, q_stop: int, out_index: np.ndarray, out_dist: np.ndarray) -> None:
    """Full scan for queries ``q_start:q_stop``: nearest row and its distance (ties: lowest row).

    ``table`` uint64 [W, N] (word-major, as :class:`mbi.search.distance.PackedKeys`),
    ``queries`` uint64 [Q, W]; ``parts`` int64 [3, 2] word ranges of (patch, hidden,
    location); ``weights`` float64 [3] = (a, b, c).
    """
    a, b, c = weights[0], weights[1], weights[2]
    total = (a + b) + c
    n = table.shape[1]
    cp, ch, cl = np.empty(BLOCK, np.int32), np.empty(BLOCK, np.int32), np.empty(BLOCK, np.int32)
    dist = np.empty(BLOCK, np.float64)
    for qi in range(q_start, q_stop):
        q = queries[qi]
        best, best_row = np.inf, 0
        for lo in range(0, n, BLOCK):
            m = min(BLOCK, n - lo)
            _block_distances(q, table, parts, lo, m, -1, a, b, c, total, cp, ch, cl, dist)
            for r in range(m):
                if dist[r] < best:  # strict: the first (lowest) row keeps a tie
                    best, best_row = dist[r], lo + r
        out_index[qi], out_dist[qi] = best_row, best
