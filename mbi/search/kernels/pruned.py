"""Exact (or (1 + eps)-approximate) ``k``-nearest search that skips rows by lower bounds
(see :mod:`mbi.search.exact`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from mbi.search.kernels.ops import _absdiff, _add_sat, _eq1, _prefetch, _row_part, _weighted_sum


INT_WEIGHT_SCALE = 64
"""The group-sum test weighs the patch and hidden bounds by integers in ``0..64`` (see :func:`pruned_block`)."""


@njit(cache=True, nogil=True, inline="always")
def _threshold(best: float, ml: int, total: float, c: float, top: float, t_max: float) -> float:
    """The group-sum test's threshold ``T`` for the best distance so far (see :func:`pruned_block`).

    ``INT_WEIGHT_SCALE / max(a, b)`` times the room eq. (1)'s numerator leaves above
    ``c * M_l``, with relative margins of 1e-9 (and 1 unit) for the float rounding, clipped to
    ``0..t_max``; ``t_max`` (keep every row) when ``a = b = 0``.
    """
    if top <= 0:
        return t_max
    room = (best * total * (1.0 + 1e-9) + total * 1e-300) - c * np.float64(ml)
    return min(max(room * (INT_WEIGHT_SCALE / top) * (1.0 + 1e-9) + 1.0, 0.0), t_max)


@njit(cache=True, nogil=True, inline="always")
def _insert_nearest(top_d: np.ndarray, top_r: np.ndarray, found: int, k: int, d: float, row: int) -> int:
    """Insert ``(d, row)`` into the ``found`` entries of ``top_d``/``top_r`` sorted by (distance, row); keep ``k``.

    Called only when ``(d, row)`` beats the ``k``-th entry (or fewer than ``k`` are kept); returns the new count.
    """
    i = found if found < k else k - 1
    while i > 0 and (top_d[i - 1] > d or (top_d[i - 1] == d and top_r[i - 1] > row)):
        top_d[i], top_r[i] = top_d[i - 1], top_r[i - 1]
        i -= 1
    top_d[i], top_r[i] = d, row
    return min(found + 1, k)


@njit(cache=True, nogil=True)
def pruned_block(codes: np.ndarray, parts: np.ndarray, order: np.ndarray, sp: np.ndarray,
                 group_start: np.ndarray, group_loc: np.ndarray, chunks: np.ndarray, n_patch_chunks: int,
                 int_weights: np.ndarray, queries: np.ndarray, q_loc: np.ndarray, q_sp: np.ndarray,
                 q_chunks: np.ndarray, weights: np.ndarray, block: int, k: int, shrink: float, q_start: int,
                 q_stop: int,
                 out_rows: np.ndarray, out_dist: np.ndarray, out_bounded: np.ndarray,
                 out_counted: np.ndarray) -> None:
    """Exact ``k`` nearest rows for queries ``q_start:q_stop``, skipping rows by lower bounds.

    ``codes`` uint64 [N, W] (row-major) holds the rows grouped by location (group ``g`` is
    ``group_start[g]:group_start[g + 1]``, at location ``group_loc[g]`` = (row, col)) and
    sorted by patch level sum ``sp`` inside a group; ``order`` maps a position to its table
    row. ``chunks`` [C, N] (uint8 or uint16, same positions) are level sums of groups of key
    columns, the first ``n_patch_chunks`` over patch columns, the others over hidden
    columns; ``q_chunks`` [Q, C] (same dtype) the queries' sums of the same columns.
    ``int_weights`` (2 unsigned integers wider than ``chunks``) = ``floor(64 * (a, b) / max(a, b))``.

    Three lower bounds, each exact because the Manhattan distance of a part is at least the
    sum over column groups of the differences of their level sums:

    1. groups are visited by increasing location distance ``M_l``; the search ends when
       eq. (1) of ``(0, 0, M_l)`` exceeds the best distance;
    2. inside a group the scan starts at the query's patch sum and takes blocks of
       ``block`` rows outwards on both sides; a side ends once eq. (1) of
       ``(sum gap, 0, M_l)`` at its next row exceeds the best;
    3. in a block, the group-sum bounds ``P`` (patch) and ``H`` (hidden) of every row are
       summed in saturating unsigned arithmetic (vectorized over rows) and a row is read
       only if ``wp * P + wh * H <= T``, where ``T`` is ``64 / max(a, b) * (best's eq. (1)
       numerator - c * M_l)`` rounded up with a margin (the weights rounded down make the test
       weaker, never wrong; the margin covers float rounding). Only the rows that pass get
       their exact distance.

    The ``k`` best rows by (distance, table row) are kept: every bound is tested against the
    ``k``-th best distance so far (infinite while fewer than ``k`` rows are known), and a row at
    that distance still enters when its table row is lower, so the answers equal a full scan's
    sorted by (distance, row). ``out_rows`` int64 [Q, k] and ``out_dist`` float64 [Q, k] get the
    rows nearest first; ``k`` must be at most ``N`` (every row is then found).
    ``shrink`` = ``1 / (1 + eps)``: the bounds are tested against the ``k``-th best distance times
    ``shrink``; 1.0 is exact, less skips rows that could be up to ``1 + eps`` times nearer (a
    (1 + eps)-approximate search). ``out_bounded`` = rows whose group-sum bound was computed,
    ``out_counted`` = rows whose exact distance was computed.
    """
    a, b, c = weights[0], weights[1], weights[2]
    total = (a + b) + c
    top = max(a, b)
    n_groups = group_loc.shape[0]
    n_chunks = chunks.shape[0]
    p0, p1, h0, h1 = parts[0, 0], parts[0, 1], parts[1, 0], parts[1, 1]
    wp, wh = int_weights[0], int_weights[1]
    threshold = int_weights[:1].copy()  # the test's threshold T, in the weights' type
    t_max = np.float64(np.iinfo(int_weights.dtype).max)
    gdist = np.empty(n_groups, dtype=np.int64)
    acc_p, acc_h = np.empty(block, chunks.dtype), np.empty(block, chunks.dtype)
    score = np.empty(block, int_weights.dtype)
    keep = np.zeros(8 * ((block + 7) // 8 + 1), np.uint8)  # whole uint64 words for the 8-at-a-time skip
    keep_words = keep.view(np.uint64)
    top_d, top_r = np.empty(k, np.float64), np.empty(k, np.int64)
    for qi in range(q_start, q_stop):
        q = queries[qi]
        qsp = q_sp[qi]
        qc = q_chunks[qi]
        for g in range(n_groups):
            gdist[g] = abs(group_loc[g, 0] - q_loc[qi, 0]) + abs(group_loc[g, 1] - q_loc[qi, 1])
        visit = np.argsort(gdist, kind="mergesort")
        # kd, krow: the k-th best (distance, row) so far; (inf, -1) while fewer than k are known
        found, kd, krow, bounded, counted = 0, np.inf, np.int64(-1), 0, 0
        cut = kd * shrink  # what the bounds are tested against
        for kk in range(n_groups):
            g = visit[kk]
            ml = gdist[g]
            if _eq1(0, 0, ml, a, b, c, total) > cut:
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
                if _eq1(gap, 0, ml, a, b, c, total) > cut:
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
                bounded += m
                threshold[0] = _threshold(cut, ml, total, c, top, t_max)
                limit = threshold[0]
                acc_p[:m] = 0
                acc_h[:m] = 0
                for j in range(n_patch_chunks):  # narrow unsigned lanes, vectorized over the rows
                    qv = qc[j]
                    col = chunks[j, start:start + m]
                    for r in range(m):
                        acc_p[r] = _add_sat(acc_p[r], _absdiff(col[r], qv))
                for j in range(n_patch_chunks, n_chunks):
                    qv = qc[j]
                    col = chunks[j, start:start + m]
                    for r in range(m):
                        acc_h[r] = _add_sat(acc_h[r], _absdiff(col[r], qv))
                any_kept = np.uint8(0)
                for r in range(m):
                    score[r] = _weighted_sum(wp, acc_p[r], wh, acc_h[r])
                    kept = np.uint8(score[r] <= limit)
                    keep[r] = kept
                    any_kept |= kept
                if any_kept == 0:  # the common case once k good matches are known
                    continue
                # best first: the row of the smallest bound is read first, and tightens the test for the others
                first = 0
                for r in range(1, m):
                    if score[r] < score[first]:
                        first = r
                pos = start + first
                d = _eq1(_row_part(q, codes[pos], p0, p1), _row_part(q, codes[pos], h0, h1), ml, a, b, c, total)
                counted += 1
                table_row = order[pos]
                if found < k or d < kd or (d == kd and table_row < krow):
                    found = _insert_nearest(top_d, top_r, found, k, d, table_row)
                    if found == k:
                        kd, krow = top_d[k - 1], top_r[k - 1]
                        cut = kd * shrink
                threshold[0] = _threshold(cut, ml, total, c, top, t_max)
                limit = threshold[0]
                any_kept = np.uint8(0)
                for r in range(m):
                    kept = np.uint8(score[r] <= limit)
                    keep[r] = kept
                    any_kept |= kept
                keep[first] = 0
                if any_kept == 0:
                    continue
                keep[m:m + 8] = 0
                for word in range((m + 7) // 8):  # fetch the rows to read in parallel, then read them
                    if keep_words[word] != 0:
                        for r in range(8 * word, min(8 * word + 8, m)):
                            if keep[r] != 0:
                                _prefetch(codes, start + r, 0)
                                _prefetch(codes, start + r, codes.shape[1] - 1)
                for word in range((m + 7) // 8):
                    if keep_words[word] == 0:
                        continue
                    for r in range(8 * word, min(8 * word + 8, m)):
                        if keep[r] == 0 or score[r] > limit:
                            continue
                        pos = start + r
                        row = codes[pos]
                        d = _eq1(_row_part(q, row, p0, p1), _row_part(q, row, h0, h1), ml, a, b, c, total)
                        counted += 1
                        if d <= kd:
                            table_row = order[pos]
                            if found < k or d < kd or table_row < krow:
                                found = _insert_nearest(top_d, top_r, found, k, d, table_row)
                                if found == k:
                                    kd, krow = top_d[k - 1], top_r[k - 1]
                                    cut = kd * shrink
                                    threshold[0] = _threshold(cut, ml, total, c, top, t_max)
                                    limit = threshold[0]
        out_rows[qi, :found] = top_r[:found]
        out_dist[qi, :found] = top_d[:found]
        out_bounded[qi], out_counted[qi] = bounded, counted
