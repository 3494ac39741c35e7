"""The beam descent of :class:`mbi.search.searchers.KMeansTree` and the scan of the leaves it reaches
(see :mod:`mbi.search.compiled_tree`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from mbi.search.kernels.ops import BLOCK, _block_distances


@njit(cache=True, nogil=True, inline="always")
def _route_scores4(centroids: np.ndarray, centroid_norms: np.ndarray, cand: np.ndarray, pending: np.ndarray,
                   first: int, count: int, on_bits: np.ndarray, on_values: np.ndarray, n_on: int,
                   query_norm: float, cand_score: np.ndarray) -> None:
    """Routing scores of up to four candidates ``cand[pending[first:first + count]]`` at once.

    A score is the squared Euclidean distance ``(|q|^2 + |c|^2) - 2 q.c`` between a binary
    query's features (zero except ``on_values`` at ``on_bits``) and a centroid; the dot product
    runs over the set features in ascending order in float64, as
    :meth:`mbi.search.searchers.KMeansTree._descend` computes it. The four sums are independent,
    so the CPU overlaps their additions (one sum at a time waits on each addition's latency).
    """
    k0 = cand[pending[first]]
    k1 = cand[pending[first + 1]] if count > 1 else k0
    k2 = cand[pending[first + 2]] if count > 2 else k0
    k3 = cand[pending[first + 3]] if count > 3 else k0
    c0, c1, c2, c3 = centroids[k0], centroids[k1], centroids[k2], centroids[k3]
    d0 = d1 = d2 = d3 = 0.0
    for j in range(n_on):
        f, v = on_bits[j], on_values[j]
        d0 += np.float64(c0[f]) * v
        d1 += np.float64(c1[f]) * v
        d2 += np.float64(c2[f]) * v
        d3 += np.float64(c3[f]) * v
    dots = (d0, d1, d2, d3)
    for i in range(count):
        kid = cand[pending[first + i]]
        cand_score[pending[first + i]] = (query_norm + centroid_norms[kid]) - 2.0 * dots[i]


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
    pending = np.empty(width, dtype=np.int64)  # positions in cand of the children to score
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
            n_cand, n_new = 0, 0
            any_internal = False
            for j in range(n_beam):
                node = beam[j]
                if n_children[node] == 0:
                    cand[n_cand], cand_score[n_cand] = node, score[j]
                    n_cand += 1
                    continue
                any_internal = True
                for k in range(n_children[node]):
                    cand[n_cand] = first_child[node] + k
                    pending[n_new] = n_cand
                    n_new += 1
                    n_cand += 1
            if not any_internal:
                break
            compared += n_new
            for p in range(0, n_new, 4):
                _route_scores4(centroids, centroid_norms, cand, pending, p, min(4, n_new - p), on_bits, on_values,
                               n_on, query_norm, cand_score)
            levels += 1
            # keep the `checks` best by (score, node id), in that order
            n_beam = min(checks, n_cand)
            if n_beam * n_cand <= 64:  # few candidates: selection by repeated minimum
                for j in range(n_beam):
                    m = j
                    for k in range(j + 1, n_cand):
                        if cand_score[k] < cand_score[m] or (cand_score[k] == cand_score[m] and cand[k] < cand[m]):
                            m = k
                    cand[j], cand[m] = cand[m], cand[j]
                    cand_score[j], cand_score[m] = cand_score[m], cand_score[j]
                    beam[j], score[j] = cand[j], cand_score[j]
            else:  # sort by score, then order each run of equal scores by node id
                by_score = np.argsort(cand_score[:n_cand])
                for i in range(1, n_cand):
                    k = i
                    while k > 0 and cand_score[by_score[k - 1]] == cand_score[by_score[k]] and \
                            cand[by_score[k - 1]] > cand[by_score[k]]:
                        by_score[k - 1], by_score[k] = by_score[k], by_score[k - 1]
                        k -= 1
                for j in range(n_beam):
                    beam[j], score[j] = cand[by_score[j]], cand_score[by_score[j]]
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
