"""Compiled (numba) kernels of the key search: eq. (1) on packed thermometer bits.

The kernels take the word-major packed codes of :class:`mbi.search.distance.PackedKeys`
(``uint64 [words, rows]``, each part on its own words) and count the per-part Hamming
distances of a block of rows at a time with LLVM's ``ctpop``, vectorized over the rows
(AVX2 where the CPU has it); queries are row-major ``uint64 [queries, words]``. Every distance is eq. (1) evaluated
exactly as :func:`mbi.search.distance.combine` does it,
``((a * M_p + b * M_h) + c * M_l) / (a + b + c)`` in IEEE float64, so the compiled and
the numpy reference agree bit for bit; ties go to the lowest table row.

Three searches live here, each for one query at a time (``*_block`` functions loop over a
block of queries and release the GIL, so :func:`run_blocks` can share the queries among
threads the caller chooses):

* :func:`brute_block`: the full scan.
* :func:`pruned_block`: exact ``k``-nearest search that skips rows by lower bounds (see
  :mod:`mbi.search.exact`).
* :func:`tree_block`: the beam descent of :class:`mbi.search.searchers.KMeansTree`
  and the scan of the leaves it reaches (see :mod:`mbi.search.compiled_tree`).

All functions are compiled with ``cache=True``, so a fresh process loads them from
numba's on-disk cache instead of compiling (:func:`warm_up` compiles them ahead).
"""

from __future__ import annotations

import numpy as np

from mbi.search.kernels.brute import brute_block
from mbi.search.kernels.packing import group_sums_block, pack_rows_block
from mbi.search.kernels.pruned import INT_WEIGHT_SCALE, pruned_block
from mbi.search.kernels.threads import run_blocks
from mbi.search.kernels.tree import tree_block

__all__ = ["INT_WEIGHT_SCALE", "brute_block", "group_sums_block", "pack_rows_block", "pruned_block", "run_blocks",
           "tree_block", "warm_up"]

def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel on a tiny problem; seconds it took."""
    import time

    start = time.perf_counter()
    table = np.zeros((3, 2), dtype=np.uint64)
    parts = np.array([[0, 1], [1, 2], [2, 3]], dtype=np.int64)
    weights = np.ones(3)
    q = np.zeros((1, 3), dtype=np.uint64)
    idx, dist, cnt = np.zeros(1, np.int64), np.zeros(1), np.zeros(1, np.int64)
    brute_block(table, parts, q, weights, 0, 1, idx, dist)
    codes = np.zeros((2, 3), dtype=np.uint64)
    pruned_block(codes, parts, np.arange(2), np.zeros(2, np.int32), np.array([0, 2]), np.zeros((1, 2), np.int64),
                 np.zeros((2, 2), np.uint8), 1, np.ones(2, np.uint16), q, np.zeros((1, 2), np.int64),
                 np.zeros(1, np.int64), np.zeros((1, 2), np.uint8), weights, 64, 1, 1.0, 0, 1, np.zeros((1, 1), np.int64),
                 np.zeros((1, 1)), cnt, np.zeros(1, np.int64))
    one = np.ones(3, dtype=np.int64)
    pack_rows_block(np.zeros((1, 3), np.uint8), np.arange(4), one, np.arange(3), 0, 1, codes)
    group_sums_block(np.zeros((1, 3), np.uint8), np.zeros(3, np.int64), 0, 1, np.zeros((1, 1), np.int64))
    tree_block(np.zeros((1, 192), np.float32), np.zeros(1), np.zeros(1, np.int64), np.zeros(1, np.int64),
               np.zeros(1, np.int64), np.array([2]), np.arange(2), table, parts, weights, np.full(192, -1),
               np.zeros(192), q, 1, 2,
               0, 1, idx, dist, cnt, np.zeros(1, np.int64))
    return time.perf_counter() - start
