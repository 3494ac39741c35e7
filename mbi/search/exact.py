"""Exact nearest-key search with compiled kernels: a full scan, and a scan that skips rows.

Both return exactly what :class:`mbi.search.searchers.BruteForce` (the numpy reference)
returns: the nearest row under eq. (1), its float64 distance, ties to the lowest row.

:class:`PrunedExact` does less than a full scan with three lower bounds of eq. (1), each
exact for the thermometer codes (the Manhattan distance of a part is at least the
difference of its level sums):

1. rows are grouped by location; a group's location distance is the same for all its rows,
   and groups are visited by increasing location distance until eq. (1) of that distance
   alone exceeds the best match;
2. inside a group rows are sorted by their patch level sum; the scan starts at the query's
   sum and takes blocks of rows outwards, stopping a side once eq. (1) of the sum gap
   (with the group's location distance) exceeds the best.

Rows are read a block at a time with vectorized popcounts (:mod:`mbi.search.kernels`);
``python -m benchmarks.bench_engine`` measures the share of rows read on real queries.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mbi.search import kernels
from mbi.search.distance import KeyLayout, PackedKeys, default_threads, pack
from mbi.search.searchers import SearchResult, Searcher
from mbi.validate import check_int


def row_major(packed: PackedKeys) -> np.ndarray:
    """Packed codes as a C-contiguous ``uint64 [rows, words]`` array (the kernels' query layout)."""
    return np.ascontiguousarray(packed.words.T)


def part_ranges(packed: PackedKeys) -> np.ndarray:
    """Word ranges of (patch, hidden, location) as ``int64 [3, 2]`` (start, stop)."""
    return np.array([[s.start, s.stop] for s in packed.part_words], dtype=np.int64)


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
        return queries, row_major(pack(queries, self.layout))


class CompiledBruteForce(CompiledSearcher):
    """Full scan of the packed table in compiled code; ``N`` comparisons per query."""

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float],
                 n_threads: int | None = None) -> None:
        super().__init__(keys, layout, weights, n_threads)
        packed = pack(self.keys, layout)
        self._table, self._parts = np.ascontiguousarray(packed.words), part_ranges(packed)

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


class PrunedExact(CompiledSearcher):
    """Exact search that skips rows by lower bounds (see the module docstring); same answers as a full scan.

    ``block``: rows read together (the granularity of the skipping). The result's
    ``comparisons`` are the full scan's (``N``, the search it equals); ``rows_read`` counts the
    rows whose distance was really computed.
    """

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float],
                 n_threads: int | None = None, block: int = 128) -> None:
        super().__init__(keys, layout, weights, n_threads)
        self.block = check_int("block", block, 1)
        loc = self.keys[:, layout.loc_cols].astype(np.int64)
        group_loc, group = np.unique(loc, axis=0, return_inverse=True)
        group = group.reshape(-1)
        self._group_loc = np.ascontiguousarray(group_loc, dtype=np.int64)
        sp = self._patch_sum(self.keys)
        self._order = np.lexsort((np.arange(self.n_rows), sp, group)).astype(np.int64)
        self._sp = sp[self._order].astype(np.int32)
        counts = np.bincount(group, minlength=len(self._group_loc))
        self._group_start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        packed = pack(self.keys[self._order], layout)
        self._table, self._parts = np.ascontiguousarray(packed.words), part_ranges(packed)

    def _patch_sum(self, keys: np.ndarray) -> np.ndarray:
        """Sum of the patch levels of each key (= popcount of its patch code), int64."""
        return keys[:, self.layout.patch_cols].sum(axis=1, dtype=np.int64)

    @property
    def n_groups(self) -> int:
        """Number of distinct key locations."""
        return len(self._group_loc)

    @property
    def index_bytes(self) -> int:
        """Bytes of the search index: packed codes, row order, patch sums and groups."""
        arrays = (self._table, self._order, self._sp, self._group_start, self._group_loc)
        return int(sum(a.nbytes for a in arrays))

    def query(self, queries: np.ndarray) -> SearchResult:
        """Exact nearest key of every query (ties: lowest row); ``rows_read`` = rows whose distance was computed."""
        keys, codes = self._prepare(queries)
        n = len(codes)
        q_loc = np.ascontiguousarray(keys[:, self.layout.loc_cols], dtype=np.int64)
        q_sp = self._patch_sum(keys)
        index, distance = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float64)
        counted = np.zeros(n, dtype=np.int64)
        kernels.run_blocks(
            lambda s, e: kernels.pruned_block(self._table, self._parts, self._order, self._sp, self._group_start,
                                              self._group_loc, codes, q_loc, q_sp, self._weights, self.block,
                                              s, e, index, distance, counted),
            n, self.n_threads)
        return SearchResult(index, distance, np.full(n, self.n_rows, dtype=np.int64), np.zeros(n, dtype=np.int64),
                            rows_read=counted)
