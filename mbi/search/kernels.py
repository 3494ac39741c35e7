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
* :func:`pruned_block`: exact search that skips rows by lower bounds (see
  :mod:`mbi.search.exact`).
* :func:`tree_block`: the beam descent of :class:`mbi.search.searchers.KMeansTree`
  and the scan of the leaves it reaches (see :mod:`mbi.search.compiled_tree`).

All functions are compiled with ``cache=True``, so a fresh process loads them from
numba's on-disk cache instead of compiling (:func:`warm_up` compiles them ahead).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def _ctpop(typingctx, x):  # noqa: ANN001 (numba typing signature)
    """``popcount(x)`` of a uint64 with LLVM's ``ctpop`` (one ``popcnt`` instruction)."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        fnty = ir.FunctionType(ir.IntType(64), [ir.IntType(64)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
        return builder.call(fn, [args[0]])

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _eq1(mp: int, mh: int, ml: int, a: float, b: float, c: float, total: float) -> float:
    """Eq. (1) from integer part distances, in :func:`mbi.search.distance.combine`'s order."""
    return ((a * np.float64(mp) + b * np.float64(mh)) + c * np.float64(ml)) / total


BLOCK = 256
"""Rows per block: the per-row counts of one block stay in L1 while the words stream past."""


@njit(cache=True, nogil=True, inline="always")
def _add_counts(q: np.ndarray, table: np.ndarray, start: int, stop: int, lo: int, m: int, out: np.ndarray) -> None:
    """``out[r] += popcount(q[w] ^ table[w, lo + r])`` for words ``start:stop`` and ``r < m``.

    ``table`` is word-major (``uint64 [words, rows]``), so the inner loop runs over
    contiguous rows and vectorizes; counts are int32 (a part has at most 65,535 bits).
    """
    for w in range(start, stop):
        x = q[w]
        seg = table[w, lo:lo + m]
        for r in range(m):
            out[r] += np.int32(_ctpop(x ^ seg[r]))


@njit(cache=True, nogil=True, inline="always")
def _block_distances(q: np.ndarray, table: np.ndarray, parts: np.ndarray, lo: int, m: int, ml: int,
                     a: float, b: float, c: float, total: float, cp: np.ndarray, ch: np.ndarray,
                     cl: np.ndarray, dist: np.ndarray) -> None:
    """Eq. (1) distances of rows ``lo:lo + m`` into ``dist[:m]``.

    ``ml`` >= 0 is the location distance shared by all these rows (a location group);
    ``ml`` < 0 counts the location words too.
    """
    cp[:m] = 0
    ch[:m] = 0
    _add_counts(q, table, parts[0, 0], parts[0, 1], lo, m, cp)
    _add_counts(q, table, parts[1, 0], parts[1, 1], lo, m, ch)
    if ml < 0:
        cl[:m] = 0
        _add_counts(q, table, parts[2, 0], parts[2, 1], lo, m, cl)
    else:
        cl[:m] = ml
    for r in range(m):
        dist[r] = ((a * np.float64(cp[r]) + b * np.float64(ch[r])) + c * np.float64(cl[r])) / total


# --------------------------------------------------------------------------- brute force


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


# --------------------------------------------------------------------------- pruned exact search


@njit(cache=True, nogil=True)
def pruned_block(table: np.ndarray, parts: np.ndarray, order: np.ndarray, sp: np.ndarray,
                 group_start: np.ndarray, group_loc: np.ndarray, queries: np.ndarray, q_loc: np.ndarray,
                 q_sp: np.ndarray, weights: np.ndarray, block: int, q_start: int, q_stop: int,
                 out_index: np.ndarray, out_dist: np.ndarray, out_counted: np.ndarray) -> None:
    """Exact nearest rows for queries ``q_start:q_stop``, skipping rows by lower bounds.

    ``table`` uint64 [W, N] holds the rows grouped by location (group ``g`` is
    ``group_start[g]:group_start[g + 1]``, at location ``group_loc[g]`` = (row, col)) and
    sorted by patch level sum ``sp`` inside a group; ``order`` maps a position to its table
    row. Groups are visited by increasing location distance ``M_l`` and the search ends when
    eq. (1) of ``(0, 0, M_l)`` exceeds the best distance. Inside a group the scan starts at
    the query's patch sum and takes blocks of ``block`` rows outwards on both sides; since
    ``|sum(q_p) - sum(k_p)| <= M_p`` for thermometer codes, a side ends once eq. (1) of
    ``(gap, 0, M_l)`` at its next row exceeds the best. Ties go to the lowest table row,
    so the answers equal the full scan's. ``out_counted`` = rows whose distance was computed.
    """
    a, b, c = weights[0], weights[1], weights[2]
    total = (a + b) + c
    n_groups = group_loc.shape[0]
    gdist = np.empty(n_groups, dtype=np.int64)
    cp, ch, cl = np.empty(block, np.int32), np.empty(block, np.int32), np.empty(block, np.int32)
    dist = np.empty(block, np.float64)
    for qi in range(q_start, q_stop):
        q = queries[qi]
        qsp = q_sp[qi]
        for g in range(n_groups):
            gdist[g] = abs(group_loc[g, 0] - q_loc[qi, 0]) + abs(group_loc[g, 1] - q_loc[qi, 1])
        visit = np.argsort(gdist, kind="mergesort")
        best, best_row, counted = np.inf, np.int64(-1), 0
        for k in range(n_groups):
            g = visit[k]
            ml = gdist[g]
            if _eq1(0, 0, ml, a, b, c, total) > best:
                break
            lo, hi = group_start[g], group_start[g + 1]
            left, right = lo, hi  # first position whose sum is >= qsp
            while left < right:
                mid = (left + right) // 2
                if sp[mid] < qsp:
                    left = mid + 1
                else:
                    right = mid
            up, down = left, left  # rows up:... and ...:down are still to visit
            while up < hi or down > lo:
                gap_up = np.int64(sp[up]) - qsp if up < hi else np.int64(1) << 40
                gap_down = qsp - np.int64(sp[down - 1]) if down > lo else np.int64(1) << 40
                going_up = gap_up <= gap_down
                gap = gap_up if going_up else gap_down
                if _eq1(gap, 0, ml, a, b, c, total) > best:
                    if going_up:
                        up = hi
                    else:
                        down = lo
                    continue
                if going_up:
                    start, m = up, min(block, hi - up)
                    up += m
                else:
                    m = min(block, down - lo)
                    start = down - m
                    down = start
                _block_distances(q, table, parts, start, m, ml, a, b, c, total, cp, ch, cl, dist)
                counted += m
                for r in range(m):
                    d = dist[r]
                    if d <= best:
                        row = order[start + r]
                        if d < best or row < best_row:
                            best, best_row = d, row
        out_index[qi], out_dist[qi], out_counted[qi] = best_row, best, counted


# --------------------------------------------------------------------------- k-means tree


@njit(cache=True, nogil=True)
def _route_score(centroid: np.ndarray, centroid_norm: float, on_bits: np.ndarray, on_values: np.ndarray,
                 n_on: int, query_norm: float) -> float:
    """Squared Euclidean distance between a binary query's features and a centroid.

    The query's features are zero except ``on_values`` at ``on_bits``; the dot product runs
    over those in ascending feature order in float64, as
    :meth:`mbi.search.searchers.KMeansTree._descend` computes it.
    """
    dot = 0.0
    for j in range(n_on):
        dot += np.float64(centroid[on_bits[j]]) * on_values[j]
    return (query_norm + centroid_norm) - 2.0 * dot


@njit(cache=True, nogil=True)
def tree_block(centroids: np.ndarray, centroid_norms: np.ndarray, first_child: np.ndarray,
               n_children: np.ndarray, leaf_start: np.ndarray, size: np.ndarray, order: np.ndarray,
               table: np.ndarray, parts: np.ndarray, weights: np.ndarray, bit_column: np.ndarray,
               column_scale: np.ndarray, queries: np.ndarray, checks: int, branching: int, q_start: int, q_stop: int,
               out_index: np.ndarray, out_dist: np.ndarray, out_comparisons: np.ndarray,
               out_levels: np.ndarray) -> None:
    """Beam descent of a k-means tree and exhaustive scan of the ``checks`` leaves reached.

    Same rule as :meth:`mbi.search.searchers.KMeansTree._descend`: at each level the children of
    the internal nodes in the beam are scored, leaves already in the beam keep their score,
    and the ``checks`` best candidates by (score, node id) form the next beam; the descent ends
    when the beam holds only leaves. ``bit_column`` int64 [W * 64] maps a packed code bit
    (word ``w``, bit ``i`` in :func:`numpy.packbits` order = ``64 * w + i``) to its feature
    column (-1 for padding), ``column_scale`` float64 [F] is a set bit's feature value per
    column. ``table`` is the tree's leaf-ordered packed codes, word-major.
    """
    a, b, c = weights[0], weights[1], weights[2]
    total = (a + b) + c
    n_words = queries.shape[1]
    width = checks * branching + checks
    on_bits = np.empty(n_words * 64, dtype=np.int64)
    on_values = np.empty(n_words * 64, dtype=np.float64)
    beam = np.empty(checks, dtype=np.int64)
    score = np.empty(checks, dtype=np.float64)
    cand = np.empty(width, dtype=np.int64)
    cand_score = np.empty(width, dtype=np.float64)
    cp, ch, cl = np.empty(BLOCK, np.int32), np.empty(BLOCK, np.int32), np.empty(BLOCK, np.int32)
    dist = np.empty(BLOCK, np.float64)
    for qi in range(q_start, q_stop):
        q = queries[qi]
        n_on = 0
        query_norm = 0.0
        for w in range(n_words):
            word = q[w]
            if word == 0:
                continue
            for bit in range(64):
                # packbits puts bit i of a word in byte i // 8, most significant bit first
                if (word >> np.uint64(8 * (bit >> 3) + 7 - (bit & 7))) & np.uint64(1):
                    f = bit_column[w * 64 + bit]
                    if f < 0:
                        continue
                    on_bits[n_on] = f
                    on_values[n_on] = column_scale[f]
                    query_norm += column_scale[f] * column_scale[f]
                    n_on += 1
        beam[0], score[0] = 0, 0.0
        n_beam = 1
        compared, levels = 0, 0
        while True:
            n_cand = 0
            any_internal = False
            for j in range(n_beam):
                node = beam[j]
                if n_children[node] == 0:
                    cand[n_cand], cand_score[n_cand] = node, score[j]
                    n_cand += 1
                    continue
                any_internal = True
                for k in range(n_children[node]):
                    kid = first_child[node] + k
                    cand[n_cand] = kid
                    cand_score[n_cand] = _route_score(centroids[kid], centroid_norms[kid], on_bits, on_values,
                                                      n_on, query_norm)
                    n_cand += 1
                    compared += 1
            if not any_internal:
                break
            levels += 1
            # keep the `checks` best (score, node id): selection by repeated minimum
            n_beam = min(checks, n_cand)
            for j in range(n_beam):
                m = j
                for k in range(j + 1, n_cand):
                    if cand_score[k] < cand_score[m] or (cand_score[k] == cand_score[m] and cand[k] < cand[m]):
                        m = k
                cand[j], cand[m] = cand[m], cand[j]
                cand_score[j], cand_score[m] = cand_score[m], cand_score[j]
                beam[j], score[j] = cand[j], cand_score[j]
        best, best_row = np.inf, np.int64(-1)
        scanned = 0
        for j in range(n_beam):
            leaf = beam[j]
            start = leaf_start[leaf]
            for lo in range(start, start + size[leaf], BLOCK):
                m = min(BLOCK, start + size[leaf] - lo)
                _block_distances(q, table, parts, lo, m, -1, a, b, c, total, cp, ch, cl, dist)
                for r in range(m):
                    d = dist[r]
                    if d <= best:
                        row = order[lo + r]
                        if d < best or row < best_row:
                            best, best_row = d, row
            scanned += size[leaf]
        out_index[qi], out_dist[qi] = best_row, best
        out_comparisons[qi], out_levels[qi] = compared + scanned, levels


# --------------------------------------------------------------------------- threads


def run_blocks(kernel: Callable[[int, int], None], n_queries: int, n_threads: int) -> None:
    """Call ``kernel(start, stop)`` on ``n_threads`` contiguous blocks of the queries.

    The compiled kernels release the GIL, so the blocks run in parallel in a thread pool of
    exactly ``n_threads`` threads (one thread: called inline).
    """
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    n_blocks = max(1, min(n_threads, n_queries))
    bounds = np.linspace(0, n_queries, n_blocks + 1).astype(np.int64)
    if n_blocks == 1:
        kernel(0, n_queries)
        return
    with ThreadPoolExecutor(n_blocks) as pool:
        list(pool.map(lambda i: kernel(int(bounds[i]), int(bounds[i + 1])), range(n_blocks)))


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
    pruned_block(table, parts, np.arange(2), np.zeros(2, np.int32), np.array([0, 2]), np.zeros((1, 2), np.int64), q,
                 np.zeros((1, 2), np.int64), np.zeros(1, np.int64), weights, 64, 0, 1, idx, dist, cnt)
    tree_block(np.zeros((1, 192), np.float32), np.zeros(1), np.zeros(1, np.int64), np.zeros(1, np.int64),
               np.zeros(1, np.int64), np.array([2]), np.arange(2), table, parts, weights, np.full(192, -1),
               np.zeros(192), q, 1, 2,
               0, 1, idx, dist, cnt, np.zeros(1, np.int64))
    return time.perf_counter() - start

