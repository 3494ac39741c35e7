"""Shared pieces of the compiled search kernels: LLVM intrinsics (popcount, absolute difference,
saturating add, weighted sum, prefetch), eq. (1) from integer part distances, and the per-block
Hamming counts that the full scan and the tree's leaf scans share.

Every distance is eq. (1) evaluated exactly as :func:`mbi.search.distance.combine` does it,
``((a * M_p + b * M_h) + c * M_l) / (a + b + c)`` in IEEE float64, so the compiled kernels and the
numpy reference agree bit for bit.
"""

from __future__ import annotations

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
