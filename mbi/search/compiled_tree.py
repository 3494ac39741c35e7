"""The k-means tree's search in one compiled, batched routine.

:class:`CompiledTree` answers queries on a built :class:`mbi.search.searchers.KMeansTree`
(same centroids, same leaves) with :func:`mbi.search.kernels.tree_block`: the beam descent
over the centroids and the scan of the ``checks`` leaves reached, per query, in compiled
code on the caller's threads. For the same tree and ``checks`` its answers (rows,
distances, comparisons, levels) are those of ``KMeansTree.query``, the numpy reference.
"""

from __future__ import annotations

import math

import numpy as np

from mbi.search import kernels
from mbi.search.distance import default_threads, pack
from mbi.search.exact import part_ranges, row_major
from mbi.search.searchers import KMeansTree, SearchResult, Searcher, _check_int


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


class CompiledTree(Searcher):
    """Compiled search of a built :class:`KMeansTree`; ``checks`` leaves scanned per query.

    ``n_threads`` threads share the queries (default: all usable cores).
    """

    def __init__(self, tree: KMeansTree, checks: int | None = None, n_threads: int | None = None) -> None:
        if not isinstance(tree, KMeansTree):
            raise TypeError(f"tree must be a KMeansTree, got {type(tree).__name__}")
        # the tree validated keys, layout and weights already
        self.layout, self.weights, self.keys = tree.layout, tree.weights, tree.keys
        self.tree = tree
        self.checks = tree.checks if checks is None else _check_int("checks", checks, 1)
        self.n_threads = default_threads() if n_threads is None else _check_int("n_threads", n_threads, 1)
        self._table = np.ascontiguousarray(tree._packed.words)
        self._parts = part_ranges(tree._packed)
        self._bit_column, self._column_scale = feature_columns(tree)
        self._weights = np.array(self.weights, dtype=np.float64)

    @property
    def index_bytes(self) -> int:
        """Bytes of the search index: packed codes, row order, centroids and node arrays."""
        t = self.tree
        arrays = (self._table, t._order, t._centroids, t._centroid_norms, t._first_child, t._n_children,
                  t._leaf_start, t._size)
        return int(sum(a.nbytes for a in arrays))

    def query(self, queries: np.ndarray, checks: int | None = None) -> SearchResult:
        """Nearest key found per query, scanning ``checks`` leaves (default: this searcher's ``checks``)."""
        checks = self.checks if checks is None else _check_int("checks", checks, 1)
        queries = self.layout.check_keys(queries, "queries")
        codes = row_major(pack(queries, self.layout))
        n = len(codes)
        index, distance = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.float64)
        comparisons, levels = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        t = self.tree
        kernels.run_blocks(
            lambda s, e: kernels.tree_block(t._centroids, t._centroid_norms, t._first_child, t._n_children,
                                            t._leaf_start, t._size, t._order, self._table, self._parts,
                                            self._weights, self._bit_column, self._column_scale, codes,
                                            checks, t.branching, s, e, index, distance, comparisons, levels),
            n, self.n_threads)
        return SearchResult(index, distance, comparisons, levels)
