"""The k-means tree's search in one compiled, batched routine.

:class:`CompiledTree` is a :class:`mbi.search.searchers.KMeansTree` (same centroids, same
leaves) that answers queries with :func:`mbi.search.kernels.tree_block`: the beam descent
over the centroids and the scan of the ``checks`` leaves reached, per query, in compiled
code on the caller's threads. For the same tree and ``checks`` its answers (rows,
distances, comparisons, levels) are those of ``KMeansTree.query``, the numpy reference (:meth:`CompiledTree.reference_query`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from mbi.search import kernels
from mbi.search.distance import KeyLayout, default_threads
from mbi.search.exact import pack_rows, part_ranges
from mbi.search.searchers import KMeansTree, SearchResult
from mbi.validate import check_int


def feature_columns(tree: KMeansTree) -> tuple[np.ndarray, np.ndarray]:
    """``(bit_column int64 [W * 64], column_scale float64 [F])`` of the tree's feature space.

    ``bit_column`` maps a packed code bit (``64 * word + bit`` in :func:`numpy.packbits`
    order) to its column of :func:`mbi.search.searchers.weighted_features` (-1 for padding);
    ``column_scale`` is a set bit's feature value, the float32 ``sqrt(w_p / (a + b + c))``
    of its part, as float64.
    """
    packed = tree._packed
    a, b, c = tree.weights
    total = (a + b) + c
    bit_column = np.full(packed.n_words * 64, -1, dtype=np.int64)
    scales = []
    offset = 0
    for words, bits, w in zip(packed.part_words, tree.layout.part_bits, (a, b, c)):
        bit_column[words.start * 64: words.start * 64 + bits] = offset + np.arange(bits)
        scales.append(np.full(bits, np.float32(1.0) * np.float32(math.sqrt(w / total)), dtype=np.float32))
        offset += bits
    return bit_column, np.concatenate(scales).astype(np.float64)


class CompiledTree(KMeansTree):
    """A :class:`KMeansTree` whose :meth:`query` runs compiled on ``n_threads`` threads.

    Built exactly like :class:`KMeansTree` (same arguments, same tree for the same seed);
    :meth:`reference_query` is the numpy search of the same tree, which :meth:`query`
    reproduces. ``n_threads`` threads share the queries (default: all usable cores).
    """

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], branching: int = 4,
                 leaf_size: int = 32, max_depth: int = 32, iterations: int = 10, checks: int = 1,
                 seed: int = 0, n_threads: int | None = None) -> None:
        super().__init__(keys, layout, weights, branching=branching, leaf_size=leaf_size, max_depth=max_depth,
                         iterations=iterations, checks=checks, seed=seed)
        self.n_threads = default_threads() if n_threads is None else check_int("n_threads", n_threads, 1)
        self._table = np.ascontiguousarray(self._packed.words)
        self._parts = part_ranges(self._packed.part_words)
        self._bit_column, self._column_scale = feature_columns(self)
        self._weight_array = np.array(self.weights, dtype=np.float64)

    @property
    def index_bytes(self) -> int:
        """Bytes of the search index: packed codes, row order, centroids and node arrays."""
        arrays = (self._table, self._order, self._centroids, self._centroid_norms, self._first_child,
                  self._n_children, self._leaf_start, self._size)
        return int(sum(a.nbytes for a in arrays))

    def reference_query(self, queries: np.ndarray, checks: int | None = None) -> SearchResult:
        """The numpy search of this tree (:meth:`KMeansTree.query`)."""
        return KMeansTree.query(self, queries, checks)

    def query(self, queries: np.ndarray, checks: int | None = None) -> SearchResult:
        """Nearest key found per query, scanning ``checks`` leaves (default: the tree's ``checks``)."""
        checks = self.checks if checks is None else check_int("checks", checks, 1)
        queries = self.layout.check_keys(queries, "queries")
        codes = pack_rows(queries, self.layout)
        n = len(codes)
        index, distance = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float64)
        comparisons, levels = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        kernels.run_blocks(
            lambda s, e: kernels.tree_block(self._centroids, self._centroid_norms, self._first_child,
                                            self._n_children, self._leaf_start, self._size, self._order,
                                            self._table, self._parts, self._weight_array, self._bit_column,
                                            self._column_scale, codes, checks, self.branching, s, e, index,
                                            distance, comparisons, levels),
            n, self.n_threads)
        return SearchResult(index, distance, comparisons, levels)
