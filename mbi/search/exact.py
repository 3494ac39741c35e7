"""Exact nearest-key search with compiled kernels: a full scan, and a scan that skips rows.

Both return exactly what :class:`mbi.search.searchers.BruteForce` (the numpy reference)
returns: the nearest row under eq. (1), its float64 distance, ties to the lowest row;
:meth:`PrunedExact.query_k` the ``k`` nearest rows, sorted by (distance, row), as
:meth:`mbi.search.searchers.BruteForce.query_k` does.

:class:`PrunedExact` does less than a full scan with three lower bounds of eq. (1), each
exact for the thermometer codes (the Manhattan distance of a part is at least the sum, over
groups of its columns, of the differences of the groups' level sums):

1. rows are grouped by location; a group's location distance is the same for all its rows,
   and groups are visited by increasing location distance until eq. (1) of that distance
   alone exceeds the best match;
2. inside a group rows are sorted by their patch level sum; the scan starts at the query's
   sum and takes blocks of rows outwards, stopping a side once eq. (1) of the sum gap
   (with the group's location distance) exceeds the best;
3. in each block, the level sums of small groups of columns (:func:`column_groups`: columns
   that vary together in the table, so that a query's differences in a group rarely cancel)
   give a much tighter bound, computed for all the block's rows at once; only the rows whose
   bound does not exceed the best get their exact (popcount) distance.

``python -m benchmarks.bench_engine`` measures the rows each stage reads on real queries.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np

from mbi.search import kernels
from mbi.search.distance import KeyLayout, default_threads, pack, part_word_slices
from mbi.search.searchers import SearchResult, Searcher
from mbi.search.weights import check_weights
from mbi.validate import check_int, check_number


def part_ranges(part_words: Sequence[slice]) -> np.ndarray:
    """Word ranges of (patch, hidden, location) (``PackedKeys.part_words``) as ``int64 [3, 2]`` (start, stop)."""
    return np.array([[s.start, s.stop] for s in part_words], dtype=np.int64)


class CompiledSearcher(Searcher):
    """A :class:`Searcher` whose queries run in compiled kernels on ``n_threads`` threads."""

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float],
                 n_threads: int | None = None) -> None:
        super().__init__(keys, layout, weights)
        self.n_threads = default_threads() if n_threads is None else check_int("n_threads", n_threads, 1)
        self._weights = np.array(self.weights, dtype=np.float64)

    def _prepare(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validated query keys ``uint8 [Q, D]`` and their row-major packed codes."""
        queries = self.layout.check_keys(queries, "queries")
        return queries, pack_rows(queries, self.layout)


class CompiledBruteForce(CompiledSearcher):
    """Full scan of the packed table in compiled code; ``N`` comparisons per query."""

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float],
                 n_threads: int | None = None) -> None:
        super().__init__(keys, layout, weights, n_threads)
        packed = pack(self.keys, layout)
        self._table, self._parts = np.ascontiguousarray(packed.words), part_ranges(packed.part_words)

    @property
    def index_bytes(self) -> int:
        """Bytes of the search index (the packed codes)."""
        return int(self._table.nbytes)

    def query(self, queries: np.ndarray) -> SearchResult:
        """Exact nearest key of every query (ties: lowest row)."""
        _, codes = self._prepare(queries)
        n = len(codes)
        index, distance = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float64)
        kernels.run_blocks(lambda s, e: kernels.brute_block(self._table, self._parts, codes, self._weights, s, e,
                                                            index, distance), n, self.n_threads)
        return SearchResult(index, distance, np.full(n, self.n_rows, dtype=np.int64), np.zeros(n, dtype=np.int64))


def pack_rows(keys: np.ndarray, layout: KeyLayout, n_threads: int = 1) -> np.ndarray:
    """Row-major packed thermometer codes ``uint64 [N, W]`` of valid keys, compiled.

    Equal to ``pack(keys, layout).words.T`` (the numpy reference); ``keys`` must already be
    validated (:meth:`KeyLayout.check_keys`).
    """
    part_words = part_word_slices(layout)
    bounds = [cols.start for cols in layout.part_cols] + [layout.width]
    out = np.zeros((len(keys), part_words[-1].stop), dtype=np.uint64)
    kernels.run_blocks(lambda s, e: kernels.pack_rows_block(
        keys, np.array(bounds, dtype=np.int64), np.array([lv - 1 for lv in layout.part_levels], dtype=np.int64),
        np.array([w.start for w in part_words], dtype=np.int64), s, e, out), len(keys), n_threads)
    return out


def column_groups(values: np.ndarray, size: int) -> list[np.ndarray]:
    """Columns of ``values`` (``[N, d]`` levels of one key part) in groups of at most ``size``.

    Groups are made by rounds of pairing: each round computes the correlation of the groups'
    level sums over (about 4,096 of) the rows and joins the most correlated pairs first,
    greedily, while the joined group stays within ``size``. Columns that rise and fall
    together (neighbouring pixels, a pixel and the coarse patch that covers it, the hidden
    units of one feature) end up together, which makes the group-sum bound of
    :class:`PrunedExact` tight. Parts wider than 512 columns start from runs of neighbouring
    columns (and are only such runs when those would not fit ``size``). Returns a list of
    ascending ``int64`` column arrays covering ``0..d-1``.
    """
    d = values.shape[1]
    run = -(-d // 512)  # pairing starts from at most 512 groups
    if run >= size:  # too wide (or groups of one): runs of neighbouring columns
        return [np.arange(s, min(s + size, d)) for s in range(0, d, size)]
    sample = values[:: max(1, len(values) // 4096)].astype(np.float64)
    groups = [np.arange(s, min(s + run, d)) for s in range(0, d, run)]
    while len(groups) > 1:
        sizes = np.array([len(g) for g in groups])
        member = np.zeros((d, len(groups)))
        for j, g in enumerate(groups):
            member[g, j] = 1.0
        sums = sample @ member
        sums -= sums.mean(axis=0)
        spread = np.sqrt((sums**2).mean(axis=0))
        spread[spread == 0] = np.inf  # constant sums: correlation 0
        corr = (sums.T @ sums) / len(sums) / np.outer(spread, spread)
        i, j = np.triu_indices(len(groups), 1)
        fits = sizes[i] + sizes[j] <= size
        if not fits.any():
            break
        i, j = i[fits], j[fits]
        order = np.argsort(-corr[i, j], kind="stable")
        used = [False] * len(groups)
        joined = []
        for x, y in zip(i[order].tolist(), j[order].tolist()):
            if not used[x] and not used[y]:
                used[x] = used[y] = True
                joined.append(np.sort(np.concatenate([groups[x], groups[y]])))
        groups = joined + [g for g, u in zip(groups, used) if not u]
    return sorted(groups, key=lambda g: int(g[0]))


class PrunedExact(CompiledSearcher):
    """Exact search that skips rows by lower bounds (see the module docstring); same answers as a full scan.

    ``block``: rows bounded together (the granularity of the skipping); ``group_size``: most
    columns per level-sum group of the third bound (:func:`column_groups`). ``eps`` > 0 makes it
    a (1 + eps)-approximate search: rows are skipped once their bound exceeds the best distance
    so far divided by ``1 + eps``, so an answer is at most ``1 + eps`` times the exact nearest
    distance (its distance is still its exact eq. (1)); 0 (the default) is exact. The result's
    ``comparisons`` are the full scan's (``N``, the search it equals); ``rows_read`` counts the
    rows whose exact distance was computed, ``rows_bounded`` those whose group-sum bound was.
    """

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float],
                 n_threads: int | None = None, block: int = 512, group_size: int = 8, eps: float = 0.0) -> None:
        super().__init__(keys, layout, weights, n_threads)
        self.block = check_int("block", block, 1)
        self.eps = check_number("eps", eps, 0.0)
        self.group_size = check_int("group_size", group_size, 1)
        loc = self.keys[:, layout.loc_cols].astype(np.int64)
        cells, group = np.unique(loc[:, 0] * layout.loc_levels + loc[:, 1], return_inverse=True)
        group = group.reshape(-1)
        self._group_loc = np.ascontiguousarray(np.stack([cells // layout.loc_levels, cells % layout.loc_levels], 1))
        sp = self._patch_sum(self.keys)
        self._order = np.lexsort((np.arange(self.n_rows), sp, group)).astype(np.int64)
        self._sp = sp[self._order].astype(np.int32)
        counts = np.bincount(group, minlength=len(self._group_loc))
        self._group_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        sorted_keys = self.keys[self._order]
        self._codes = pack_rows(sorted_keys, layout)
        self._parts = part_ranges(part_word_slices(layout))
        self._column_groups = [
            cols.start + g for cols in (layout.patch_cols, layout.hidden_cols)
            for g in column_groups(self.keys[:, cols], self.group_size)]
        self._n_patch_groups = sum(int(g[0]) < layout.patch_len for g in self._column_groups)
        self._column_group = np.full(layout.width, -1, dtype=np.int64)
        for j, g in enumerate(self._column_groups):
            self._column_group[g] = j
        largest = max(len(g) * ((layout.patch_levels if int(g[0]) < layout.patch_len else layout.hidden_levels) - 1)
                      for g in self._column_groups)
        narrow = largest <= 255  # group sums in bytes (the common case) or in 16 bits
        self._chunks = np.ascontiguousarray(self._group_sums(sorted_keys).T, dtype=np.uint8 if narrow else np.uint16)
        self._int_weights = self._integer_weights()

    def _integer_weights(self) -> np.ndarray:
        """The group-sum bound's weights of the patch and hidden parts, as integers (``uint16``/``uint32 [2]``)."""
        a, b, _ = self.weights
        top = max(a, b)
        return np.array([math.floor(kernels.INT_WEIGHT_SCALE * w / top) if top > 0 else 0 for w in (a, b)],
                        dtype=np.uint16 if self._chunks.dtype == np.uint8 else np.uint32)

    def reweighted(self, weights: Sequence[float]) -> "PrunedExact":
        """This index under other eq. (1) ``weights``: the rows' order, codes and group sums do not depend on the
        weights, so the copy shares them (no new build) and answers as a ``PrunedExact`` built with ``weights``."""
        out = copy.copy(self)
        out.weights = check_weights(weights)
        out._weights = np.array(out.weights, dtype=np.float64)
        out._int_weights = out._integer_weights()
        return out

    def _patch_sum(self, keys: np.ndarray) -> np.ndarray:
        """Sum of the patch levels of each key (= popcount of its patch code), int64."""
        return keys[:, self.layout.patch_cols].sum(axis=1, dtype=np.int64)

    def _group_sums(self, keys: np.ndarray) -> np.ndarray:
        """Level sums of the column groups of valid keys, ``int64 [N, C]`` (patch groups first)."""
        out = np.zeros((len(keys), len(self._column_groups)), dtype=np.int64)
        kernels.run_blocks(lambda s, e: kernels.group_sums_block(keys, self._column_group, s, e, out), len(keys),
                           self.n_threads)
        return out

    @property
    def n_groups(self) -> int:
        """Number of distinct key locations."""
        return len(self._group_loc)

    @property
    def index_bytes(self) -> int:
        """Bytes of the search index: packed codes, group sums, row order, patch sums and location groups."""
        arrays = (self._codes, self._chunks, self._order, self._sp, self._group_start, self._group_loc)
        return int(sum(a.nbytes for a in arrays))

    def _visit(self, queries: np.ndarray) -> tuple[np.ndarray, ...]:
        """Validated ``queries`` in the order the kernels visit them: ``(visit, codes, loc, patch sums, group sums)``.

        ``visit`` (``int64 [Q]``) is the (location, patch sum) order: neighbouring queries read
        overlapping rows, which stay in cache; the other arrays are the queries' in that order.
        """
        keys = self.layout.check_keys(queries, "queries")
        loc = keys[:, self.layout.loc_cols].astype(np.int64)
        q_sp = self._patch_sum(keys)
        visit = np.lexsort((q_sp, loc[:, 0] * self.layout.loc_levels + loc[:, 1]))
        keys, loc, q_sp = keys[visit], np.ascontiguousarray(loc[visit]), q_sp[visit]
        q_chunks = np.ascontiguousarray(self._group_sums(keys), dtype=self._chunks.dtype)
        return visit, pack_rows(keys, self.layout), loc, q_sp, q_chunks

    def query(self, queries: np.ndarray) -> SearchResult:
        """Exact nearest key of every query (ties: lowest row); ``rows_read`` = rows whose distance was computed."""
        rows, distance, bounded, counted = self._search(queries, 1)
        n = len(rows)
        return SearchResult(rows[:, 0], distance[:, 0], np.full(n, self.n_rows, dtype=np.int64),
                            np.zeros(n, dtype=np.int64), rows_read=counted, rows_bounded=bounded)

    def query_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest keys of every query, nearest first, ties to the lowest row.

        Returns ``(rows int64 [Q, min(k, N)], distance float64 [Q, min(k, N)])``, equal to
        :meth:`mbi.search.searchers.BruteForce.query_k` (the numpy reference).
        """
        rows, distance, _, _ = self._search(queries, check_int("k", k, 1))
        return rows, distance

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:func:`mbi.search.kernels.pruned_block` on ``queries``: ``min(k, N)`` nearest rows and distances
        (``[Q, min(k, N)]``), rows bounded and rows read (``[Q]``), in the queries' order."""
        visit, codes, loc, q_sp, q_chunks = self._visit(queries)
        n, kept = len(codes), min(k, self.n_rows)
        rows, distance = np.zeros((n, kept), dtype=np.int64), np.zeros((n, kept), dtype=np.float64)
        bounded, counted = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        kernels.run_blocks(
            lambda s, e: kernels.pruned_block(self._codes, self._parts, self._order, self._sp, self._group_start,
                                              self._group_loc, self._chunks, self._n_patch_groups,
                                              self._int_weights, codes, loc, q_sp, q_chunks, self._weights,
                                              self.block, kept, 1.0 / (1.0 + self.eps), s, e, rows, distance,
                                              bounded, counted),
            n, self.n_threads)
        back = np.empty(n, dtype=np.int64)
        back[visit] = np.arange(n)
        return rows[back], distance[back], bounded[back], counted[back]
