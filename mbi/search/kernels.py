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


@intrinsic
def _absdiff(typingctx, x, y):  # noqa: ANN001 (numba typing signature)
    """``|x - y|`` of two unsigned integers of the same type, in that type (``max - min``).

    numba widens small integers to int64 in arithmetic, which would make LLVM vectorize the
    group-sum bound 8 rows at a time instead of 32-64; this keeps the lanes narrow.
    """
    if not (isinstance(x, types.Integer) and x == y and not x.signed):
        return None
    sig = x(x, y)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        a, b = args
        greater = builder.icmp_unsigned(">", a, b)
        return builder.sub(builder.select(greater, a, b), builder.select(greater, b, a))

    return sig, codegen


@intrinsic
def _add_sat(typingctx, acc, d):  # noqa: ANN001 (numba typing signature)
    """``min(acc + d, max)`` of two unsigned integers of the same type (LLVM ``uadd.sat``).

    A saturated sum of non-negative lower bounds is still a lower bound; it lets the group-sum
    bound of :func:`pruned_block` run on bytes, 64 rows per AVX-512 instruction.
    """
    if not (isinstance(acc, types.Integer) and acc == d and not acc.signed):
        return None
    sig = acc(acc, d)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        a, v = args
        fnty = ir.FunctionType(a.type, [a.type, a.type])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.uadd.sat.i{a.type.width}")
        return builder.call(fn, [a, v])

    return sig, codegen


@intrinsic
def _weighted_sum(typingctx, wp, p, wh, h):  # noqa: ANN001 (numba typing signature)
    """``wp * p + wh * h`` in the (wider, unsigned) type of the integer weights ``wp``, ``wh``."""
    if not (isinstance(wp, types.Integer) and wp == wh and not wp.signed and isinstance(p, types.Integer)
            and p == h and not p.signed and p.bitwidth < wp.bitwidth):
        return None
    sig = wp(wp, p, wh, h)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        w1, x1, w2, x2 = args
        x1, x2 = builder.zext(x1, w1.type), builder.zext(x2, w1.type)
        return builder.add(builder.mul(w1, x1), builder.mul(w2, x2))

    return sig, codegen


@intrinsic
def _prefetch(typingctx, table, i, j):  # noqa: ANN001 (numba typing signature)
    """Ask the CPU to fetch the cache line of ``table[i, j]`` (a 2-D array) ahead (LLVM ``prefetch``).

    A hint only: it never faults, even past the array's end.
    """
    if not (isinstance(table, types.Array) and table.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None
    sig = types.void(table, i, j)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        array = context.make_array(signature.args[0])(context, builder, args[0])
        byte = ir.IntType(8)
        offset = builder.add(builder.mul(args[1], builder.extract_value(array.strides, 0)),
                             builder.mul(args[2], builder.extract_value(array.strides, 1)))
        address = builder.gep(builder.bitcast(array.data, byte.as_pointer()), [offset])
        fnty = ir.FunctionType(ir.VoidType(), [byte.as_pointer(), ir.IntType(32), ir.IntType(32), ir.IntType(32)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        i32 = ir.IntType(32)
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

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


# --------------------------------------------------------------------------- packing


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


# --------------------------------------------------------------------------- pruned exact search


@njit(cache=True, nogil=True, inline="always")
def _row_part(q: np.ndarray, row: np.ndarray, start: int, stop: int) -> int:
    """Hamming distance of words ``start:stop`` of one query and one (row-major) table row.

    Unsigned indices: numba then emits no negative-index fix-up, and LLVM a plain scalar
    loop (with the fix-up it vectorized this short loop into slow gathers).
    """
    n = 0
    for w in range(np.uint64(start), np.uint64(stop)):
        n += _ctpop(q[w] ^ row[w])
    return n


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


# --------------------------------------------------------------------------- k-means tree


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

