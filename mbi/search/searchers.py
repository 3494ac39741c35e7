"""Nearest-key search over a lookup table: brute force and a hierarchical k-means tree.

Every searcher answers ``query(queries) -> SearchResult``: for each query the row of the
nearest key under eq. (1) (:mod:`mbi.search.distance`), its distance, and how many key-distance
computations it took (``comparisons``; centroid comparisons count too).

Tie rule, everywhere: among keys at the same (float64, bit-identical) distance the lowest
row index wins, so results do not depend on chunking, threads or tree layout.

:class:`BruteForce` scans the whole packed table. :class:`KMeansTree` is Sec. III-C of the
paper: keys are split recursively by k-means into ``branching`` clusters until a node holds
at most ``leaf_size`` keys; a query descends to the nearest centroid at each level and
scans the leaf it reaches exhaustively. ``checks`` > 1 keeps the ``checks`` best nodes per
level (a beam), so ``checks`` leaves are scanned: more comparisons, closer to brute force.
:func:`search_report` and :func:`tradeoff_curve` measure that trade-off (Fig. 4(c)).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.search.distance import KeyLayout, PackedKeys, nearest, pack, packed_distances, pair_distances, thermometer
from mbi.search.weights import Weights, check_weights
from mbi.validate import check_int

_ROUTING_FLOATS = 1 << 22  # centroid floats gathered per chunk of queries in the tree descent
_KNN_QUERIES = 64  # queries per block of the reference k-nearest scan ([64, N] float64 distances at a time)


@dataclass(frozen=True)
class SearchResult:
    """Answer of a searcher for ``Q`` queries.

    Attributes:
        index: ``int64 [Q]`` row of the nearest key found (ties: lowest row).
        distance: ``float64 [Q]`` eq. (1) distance from the query to that key.
        comparisons: ``int64 [Q]`` key-distance computations: keys scanned plus, for the
            tree, centroids compared on the way down.
        levels: ``int64 [Q]`` tree levels the query descended (0 for a flat scan).
        rows_read: ``int64 [Q]`` keys whose distance an exact search that skips rows
            (:class:`mbi.search.exact.PrunedExact`) really computed; None for the others. Its
            ``comparisons`` stay those of the exhaustive search it equals (every key, as the
            in-memory array compares them), so costs and the energy model do not change meaning.
        rows_bounded: ``int64 [Q]`` keys whose cheap lower bound such a search computed (the
            rows it looked at at all); None for the others.
    """

    index: np.ndarray
    distance: np.ndarray
    comparisons: np.ndarray
    levels: np.ndarray
    rows_read: np.ndarray | None = None
    rows_bounded: np.ndarray | None = None


def sequential_sum(x: np.ndarray) -> np.ndarray:
    """Row sums of a float64 array ``[n, F]`` added left to right (``np.cumsum``'s order).

    The tree's routing scores use this fixed order so that the compiled descent
    (:mod:`mbi.search.compiled_tree`) reproduces them bit for bit.
    """
    if x.shape[1] == 0:
        return np.zeros(len(x))
    return np.cumsum(x, axis=1)[:, -1]


class Searcher(ABC):
    """Common interface of the searchers: a validated table, its layout and eq. (1) weights."""

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float]) -> None:
        if not isinstance(layout, KeyLayout):
            raise TypeError(f"layout must be a KeyLayout, got {type(layout).__name__}")
        self.layout = layout
        self.weights: Weights = check_weights(weights)
        self.keys = layout.check_keys(keys)
        if len(self.keys) == 0:
            raise ValueError("the table is empty: a searcher needs at least one key")

    @property
    def n_rows(self) -> int:
        """Number of keys in the table."""
        return len(self.keys)

    def _pack_queries(self, queries: np.ndarray) -> PackedKeys:
        """Validate queries against the layout and pack them for the kernel."""
        return pack(self.layout.check_keys(queries, "queries"), self.layout)

    @abstractmethod
    def query(self, queries: np.ndarray) -> SearchResult:
        """Nearest key for each row of ``queries`` (``[Q, D]`` integer levels)."""

    def query_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest keys per query, nearest first, ties to the lowest row.

        ``(rows int64 [Q, min(k, N)], distance float64 [Q, min(k, N)])``; only exact searchers answer it.
        """
        raise ValueError(f"{type(self).__name__} has no exact k-nearest search; use the exact search "
                         "(build_searcher kind 'brute')")


class BruteForce(Searcher):
    """Exhaustive search with the packed popcount kernel; exact, ``N`` comparisons per query.

    ``n_threads`` threads share the queries (default: all usable cores).
    """

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float],
                 n_threads: int | None = None) -> None:
        super().__init__(keys, layout, weights)
        self.n_threads = None if n_threads is None else check_int("n_threads", n_threads, 1)
        self.packed = pack(self.keys, layout)

    def query(self, queries: np.ndarray) -> SearchResult:
        """Exact nearest key of every query (ties: lowest row)."""
        packed = self._pack_queries(queries)
        index, distance = nearest(packed, self.packed, self.weights, self.n_threads)
        n = packed.n_rows
        return SearchResult(index, distance, np.full(n, self.n_rows, dtype=np.int64), np.zeros(n, dtype=np.int64))

    def query_k(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest keys of every query by a full scan, nearest first, ties to the lowest row.

        Returns ``(rows int64 [Q, min(k, N)], distance float64 [Q, min(k, N)])``: the reference of
        :meth:`mbi.search.exact.PrunedExact.query_k`.
        """
        k = check_int("k", k, 1)
        packed = self._pack_queries(queries)
        kept = min(k, self.n_rows)
        rows = np.empty((packed.n_rows, kept), dtype=np.int64)
        distance = np.empty((packed.n_rows, kept), dtype=np.float64)
        for s in range(0, packed.n_rows, _KNN_QUERIES):
            block = packed.take(np.arange(s, min(s + _KNN_QUERIES, packed.n_rows)))
            cols, d = k_smallest(packed_distances(block, self.packed, self.weights), k)
            rows[s: s + len(cols)], distance[s: s + len(cols)] = cols, d
        return rows, distance


def k_smallest(dist: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``dist`` ``[Q, N]``, the ``min(k, N)`` smallest columns by (distance, column): ``(cols, dists)``."""
    q, n = dist.shape
    if k >= n:
        order = np.lexsort((np.broadcast_to(np.arange(n), dist.shape), dist), axis=1)
        return order, np.take_along_axis(dist, order, axis=1)
    kth = np.partition(dist, k - 1, axis=1)[:, k - 1: k]
    cols = np.empty((q, k), dtype=np.int64)
    for i in range(q):
        cand = np.flatnonzero(dist[i] <= kth[i, 0])  # ascending columns, so a stable sort keeps ties lowest first
        cols[i] = cand[np.argsort(dist[i, cand], kind="stable")[:k]]
    return cols, np.take_along_axis(dist, cols, axis=1)


def weighted_features(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float]) -> np.ndarray:
    """Thermometer bits of the keys as ``float32 [N, bits]``, part ``p`` scaled by ``sqrt(w_p / (a+b+c))``.

    For binary vectors the squared Euclidean distance is the Hamming distance, so between
    two keys ``||f(q) - f(k)||^2`` equals eq. (1) exactly: k-means on these features
    minimises the weighted Manhattan objective of the table's keys.
    """
    a, b, c = check_weights(weights)
    total = (a + b) + c
    parts = [code.astype(np.float32) * np.float32(math.sqrt(w / total))
             for code, w in zip(thermometer(keys, layout), (a, b, c))]
    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class TreeSummary:
    """Shape of a :class:`KMeansTree` for drawing Fig. 4(b) (nodes numbered breadth first).

    Attributes:
        node: ``int64 [n_nodes]`` node ids (0 is the root).
        parent: ``int64 [n_nodes]`` parent id, -1 for the root.
        depth: ``int64 [n_nodes]`` depth, 0 for the root.
        size: ``int64 [n_nodes]`` number of keys under the node.
        is_leaf: ``bool [n_nodes]``.
        leaf_rows: table rows (ascending) of each leaf, by node id.
    """

    node: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    size: np.ndarray
    is_leaf: np.ndarray
    leaf_rows: dict[int, np.ndarray]


class KMeansTree(Searcher):
    """Hierarchical k-means tree over the keys (Sec. III-C, FLANN's k-means tree).

    Building: a node with more than ``leaf_size`` keys (and depth < ``max_depth``) is split by
    scikit-learn ``KMeans`` (random initial centers as in FLANN, ``n_init=1``, at most
    ``iterations`` Lloyd steps, stopping early once no label changes) into ``branching``
    clusters, on :func:`weighted_features` of its keys. On binary vectors
    squared L2 equals Hamming, so the k-means objective is exactly the eq. (1) (weighted
    Manhattan) objective on keys. A node whose keys k-means cannot separate (e.g. keys equal
    in every part of non-zero weight) becomes a leaf whatever its size.

    Routing: at each level the query goes to the child whose centroid is nearest in squared
    Euclidean distance in the same feature space (``|q|^2 + |c|^2 - 2 q.c`` in float64, each
    sum added left to right, :func:`sequential_sum`). That is the rule k-means assigned the keys
    with, so a table key descends to its own leaf; and for a binary query it equals the mean
    eq. (1) distance from the query to the cluster's keys minus the cluster's spread.

    Search: ``checks`` (default 1, plain descent) is the beam width: at each level the
    ``checks`` best nodes (by routing distance, leaves found earlier included) are kept,
    and the ``checks`` leaves reached are scanned exhaustively with the packed kernel.
    Comparisons count every centroid compared and every key scanned.
    """

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], branching: int = 4,
                 leaf_size: int = 32, max_depth: int = 32, iterations: int = 10, checks: int = 1,
                 seed: int = 0) -> None:
        super().__init__(keys, layout, weights)
        self.config = TreeConfig(branching=branching, leaf_size=leaf_size, checks=checks, seed=seed)
        self.branching, self.leaf_size, self.checks = self.config.branching, self.config.leaf_size, self.config.checks
        self.seed = self.config.seed
        self.max_depth = check_int("max_depth", max_depth, 1)
        self.iterations = check_int("iterations", iterations, 1)
        self._build()

    @classmethod
    def of(cls, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], tree: TreeConfig,
           **kwargs: Any) -> "KMeansTree":
        """The tree of ``keys`` with the settings of ``tree`` (``kwargs``: a subclass's own, e.g. ``n_threads``)."""
        return cls(keys, layout, weights, branching=tree.branching, leaf_size=tree.leaf_size, checks=tree.checks,
                   seed=tree.seed, **kwargs)

    def _split(self, features: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """k-means of one node's keys: ``(labels [n], centers [k, F])``."""
        from sklearn.cluster import KMeans  # only building a tree needs scikit-learn (~80 MB): not at import
        from sklearn.exceptions import ConvergenceWarning

        model = KMeans(n_clusters=min(self.branching, len(features)), init="random", n_init=1,
                       max_iter=self.iterations, tol=0.0, random_state=int(rng.integers(2**31 - 1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # fewer distinct keys than clusters
            model.fit(features)
        return model.labels_, model.cluster_centers_

    def _build(self) -> None:
        """Split nodes breadth first; children of a node get consecutive ids."""
        import sklearn.cluster  # noqa: F401 - loads scikit-learn's OpenMP runtime, so the limit below finds it
        from threadpoolctl import threadpool_limits

        features = weighted_features(self.keys, self.layout, self.weights)
        rng = np.random.default_rng(self.seed)
        parent, depth, size = [-1], [0], [self.n_rows]
        first_child, n_children = [0], [0]
        centroids = [features.mean(axis=0)]
        leaf_rows: dict[int, np.ndarray] = {}
        queue = deque([(0, np.arange(self.n_rows))])
        # One thread (OpenMP and BLAS): most nodes are small, where thread start-up costs more than it saves, and
        # the tree must not depend on the machine's core count. The limit applies only to libraries already loaded,
        # hence the import above: before it, the first tree of a process ran k-means on every core's OpenMP
        # threads and later ones on one, and the two differed (the shipped step-2 tree: 5,037 or 5,045 nodes).
        with threadpool_limits(limits=1):
            while queue:
                node, rows = queue.popleft()
                groups: list[tuple[np.ndarray, np.ndarray]] = []
                if len(rows) > self.leaf_size and depth[node] < self.max_depth:
                    labels, centers = self._split(features[rows], rng)
                    groups = [(rows[labels == j], centers[j]) for j in range(len(centers))]
                    groups = [g for g in groups if len(g[0])]
                if len(groups) < 2:
                    leaf_rows[node] = rows
                    continue
                first_child[node], n_children[node] = len(parent), len(groups)
                for child_rows, center in groups:
                    queue.append((len(parent), child_rows))
                    parent.append(node)
                    depth.append(depth[node] + 1)
                    size.append(len(child_rows))
                    first_child.append(0)
                    n_children.append(0)
                    centroids.append(center)
        self._parent = np.array(parent, dtype=np.int64)
        self._depth = np.array(depth, dtype=np.int64)
        self._size = np.array(size, dtype=np.int64)
        self._first_child = np.array(first_child, dtype=np.int64)
        self._n_children = np.array(n_children, dtype=np.int64)
        self._is_leaf = self._n_children == 0
        self._centroids = np.asarray(centroids, dtype=np.float32)
        self._centroid_norms = sequential_sum(self._centroids.astype(np.float64) ** 2)
        # Leaves' rows laid out contiguously (ascending inside a leaf) in a reordered packed table.
        leaves = sorted(leaf_rows)
        self._order = np.concatenate([leaf_rows[n] for n in leaves])
        self._leaf_start = np.zeros(len(parent), dtype=np.int64)
        self._leaf_start[leaves] = np.cumsum([0] + [len(leaf_rows[n]) for n in leaves[:-1]])
        self._packed = pack(self.keys, self.layout).take(self._order)

    @property
    def n_nodes(self) -> int:
        """Number of tree nodes, leaves included."""
        return len(self._parent)

    @property
    def height(self) -> int:
        """Depth of the deepest leaf."""
        return int(self._depth.max())

    def summary(self) -> TreeSummary:
        """Node ids, parents, depths, sizes, leaf flags and leaf rows (for Fig. 4(b))."""
        leaf_rows = {int(n): self._order[self._leaf_start[n]:self._leaf_start[n] + self._size[n]]
                     for n in np.flatnonzero(self._is_leaf)}
        return TreeSummary(np.arange(self.n_nodes, dtype=np.int64), self._parent.copy(), self._depth.copy(),
                           self._size.copy(), self._is_leaf.copy(), leaf_rows)

    def query(self, queries: np.ndarray, checks: int | None = None) -> SearchResult:
        """Nearest key found per query, scanning ``checks`` leaves (default: the tree's ``checks``)."""
        checks = self.checks if checks is None else dataclasses.replace(self.config, checks=checks).checks
        queries = self.layout.check_keys(queries, "queries")
        packed = pack(queries, self.layout)
        features = weighted_features(queries, self.layout, self.weights)
        nq = len(queries)
        index = np.empty(nq, dtype=np.int64)
        distance = np.empty(nq, dtype=np.float64)
        comparisons = np.empty(nq, dtype=np.int64)
        levels = np.empty(nq, dtype=np.int64)
        per_query = checks * self.branching * self._centroids.shape[1]
        chunk = max(1, _ROUTING_FLOATS // per_query)
        for s in range(0, nq, chunk):
            qs = slice(s, min(s + chunk, nq))
            leaves, comparisons[qs], levels[qs] = self._descend(features[qs], checks)
            index[qs], distance[qs], scanned = self._scan(packed, np.arange(qs.start, qs.stop), leaves)
            comparisons[qs] += scanned
        return SearchResult(index, distance, comparisons, levels)

    def _descend(self, features: np.ndarray, checks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beam descent: ``(leaves [Q, checks] (-1 = none), centroid comparisons [Q], levels [Q])``."""
        nq, k = len(features), self.branching
        beam = np.full((nq, checks), -1, dtype=np.int64)
        beam[:, 0] = 0
        score = np.full((nq, checks), np.inf)
        score[:, 0] = 0.0
        compared = np.zeros(nq, dtype=np.int64)
        levels = np.zeros(nq, dtype=np.int64)
        query_norms = sequential_sum(features.astype(np.float64) ** 2)
        while True:
            valid = beam >= 0
            internal = valid & ~self._is_leaf[beam]
            if not internal.any():
                return beam, compared, levels
            levels += internal.any(axis=1)
            # Children of internal beam nodes; leaves stay in the running with their score.
            kids = self._first_child[beam][:, :, None] + np.arange(k)
            kid_ok = internal[:, :, None] & (np.arange(k) < self._n_children[beam][:, :, None])
            kids = np.where(kid_ok, kids, 0).reshape(nq, -1)
            kid_ok = kid_ok.reshape(nq, -1)
            q_of, slot = np.nonzero(kid_ok)  # only real children: leaves and padding cost nothing
            nodes = kids[q_of, slot]
            dots = sequential_sum(self._centroids[nodes].astype(np.float64) * features[q_of].astype(np.float64))
            kid_score = np.full(kid_ok.shape, np.inf)
            kid_score[q_of, slot] = query_norms[q_of] + self._centroid_norms[nodes] - 2.0 * dots
            compared += kid_ok.sum(axis=1)
            kept = valid & ~internal
            cand = np.concatenate([np.where(kid_ok, kids, -1), np.where(kept, beam, -1)], axis=1)
            cand_score = np.concatenate([kid_score, np.where(kept, score, np.inf)], axis=1)
            # Best `checks` candidates by (score, node id); padding (-1, inf) sorts last.
            order = np.lexsort((np.where(cand >= 0, cand, np.iinfo(np.int64).max), cand_score), axis=1)[:, :checks]
            beam = np.take_along_axis(cand, order, axis=1)
            score = np.take_along_axis(cand_score, order, axis=1)

    def _scan(self, packed: PackedKeys, query_rows: np.ndarray, leaves: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exhaustive scan of each query's leaves: ``(row [Q], distance [Q], keys scanned [Q])``."""
        valid = leaves >= 0
        starts = np.where(valid, self._leaf_start[np.maximum(leaves, 0)], 0).ravel()
        lengths = np.where(valid, self._size[np.maximum(leaves, 0)], 0).ravel()
        per_query = lengths.reshape(leaves.shape).sum(axis=1)
        total = int(lengths.sum())
        offsets = np.cumsum(lengths) - lengths
        positions = np.arange(total) - np.repeat(offsets - starts, lengths)
        pair_query = np.repeat(query_rows, per_query)
        dist = pair_distances(packed, pair_query, self._packed, positions, self.weights)
        segments = np.cumsum(per_query) - per_query
        best = np.minimum.reduceat(dist, segments)
        rows = self._order[positions]
        tied = np.where(dist == np.repeat(best, per_query), rows, np.iinfo(np.int64).max)
        return np.minimum.reduceat(tied, segments), best, per_query


@dataclass(frozen=True)
class SearchReport:
    """How an (approximate) searcher compares with brute force on a set of queries.

    Attributes:
        n_queries: number of queries.
        table_rows: keys in the table (= brute-force comparisons per query).
        mean_levels: average tree levels descended per query.
        mean_comparisons: average key-distance computations per query.
        speedup: ``table_rows / mean_comparisons``, brute-force work over this searcher's.
        exact_share: share of queries whose found distance equals the brute-force distance.
        normalized_error: ``float64 [Q]`` ``(d_found - d_bf) / max_distance``, where
            ``max_distance`` is the largest eq. (1) value of the layout and weights (0..1).
        hist_counts: Fig. 4(c) histogram counts of ``normalized_error``.
        hist_edges: bin edges of ``hist_counts`` (``len(hist_counts) + 1`` values).
    """

    n_queries: int
    table_rows: int
    mean_levels: float
    mean_comparisons: float
    speedup: float
    exact_share: float
    normalized_error: np.ndarray
    hist_counts: np.ndarray
    hist_edges: np.ndarray

    @property
    def max_normalized_error(self) -> float:
        """Largest normalized distance error over the queries (the paper: below 0.1)."""
        return float(self.normalized_error.max(initial=0.0))


def error_histogram(normalized_error: np.ndarray, bins: int = 20,
                    hist_range: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fig. 4(c): ``(counts [bins], edges [bins + 1])`` of normalized distance errors over ``[0, hist_range]``
    (default: ``max(0.1, largest error)``)."""
    bins = check_int("bins", bins, 1)
    error = np.asarray(normalized_error, dtype=np.float64)
    top = max(0.1, float(error.max(initial=0.0))) if hist_range is None else float(hist_range)
    return np.histogram(error, bins=bins, range=(0.0, top))


def compare_with_reference(result: SearchResult, reference: SearchResult, max_distance: float, table_rows: int,
                           bins: int = 20, hist_range: float | None = None) -> SearchReport:
    """Build a :class:`SearchReport` from a searcher's result and the brute-force result.

    ``max_distance`` normalizes the errors (:meth:`KeyLayout.max_distance`); the histogram
    spans ``[0, hist_range]`` (default: ``max(0.1, largest error)``).
    """
    if reference.distance.shape != result.distance.shape:
        raise ValueError(f"reference has {len(reference.distance)} queries, expected {len(result.distance)}")
    if not max_distance > 0:
        raise ValueError(f"max_distance must be > 0, got {max_distance}")
    error = (result.distance - reference.distance) / max_distance
    counts, edges = error_histogram(error, bins, hist_range)
    n = len(error)
    mean_comparisons = float(result.comparisons.mean()) if n else 0.0
    return SearchReport(
        n_queries=n,
        table_rows=table_rows,
        mean_levels=float(result.levels.mean()) if n else 0.0,
        mean_comparisons=mean_comparisons,
        speedup=table_rows / mean_comparisons if mean_comparisons else math.inf,
        exact_share=float((result.distance == reference.distance).mean()) if n else 1.0,
        normalized_error=error,
        hist_counts=counts,
        hist_edges=edges,
    )


def search_report(searcher: Searcher, queries: np.ndarray, reference: SearchResult | None = None,
                  bins: int = 20, hist_range: float | None = None) -> SearchReport:
    """Compare any searcher with brute force on ``queries`` (Fig. 4(c) data).

    ``reference`` is the brute-force result for the same queries (computed when omitted).
    """
    result = searcher.query(queries)
    if reference is None:
        from mbi.search.engine import exact_reference  # the engine builds on this module

        reference = exact_reference(searcher).query(queries)
    return compare_with_reference(result, reference, searcher.layout.max_distance(searcher.weights),
                                  searcher.n_rows, bins, hist_range)


@dataclass(frozen=True)
class TradeoffPoint:
    """One tree setting on the comparisons-vs-exactness curve (see :func:`tradeoff_curve`)."""

    leaf_size: int
    checks: int
    mean_comparisons: float
    speedup: float
    exact_share: float
    max_normalized_error: float


def tradeoff_curve(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], queries: np.ndarray,
                   leaf_sizes: Sequence[int] = (16, 32, 64), checks: Sequence[int] = (1, 2, 4, 8, 16, 32),
                   branching: int = 4, seed: int = 0, reference: SearchResult | None = None
                   ) -> list[TradeoffPoint]:
    """Comparisons vs exactness of :class:`KMeansTree` for every ``leaf_size`` x ``checks``.

    One tree is built per leaf size (the engine's compiled tree); the exact search runs once
    (or pass ``reference``).
    """
    from mbi.search.engine import build_searcher  # the engine builds on this module

    if reference is None:
        reference = build_searcher(keys, layout, weights).query(queries)
    points = []
    for leaf_size in leaf_sizes:
        tree = build_searcher(keys, layout, weights, "tree",
                              tree=TreeConfig(branching=branching, leaf_size=leaf_size, seed=seed))
        for c in checks:
            report = compare_with_reference(tree.query(queries, checks=c), reference,
                                            layout.max_distance(weights), tree.n_rows)
            points.append(TradeoffPoint(leaf_size, c, report.mean_comparisons, report.speedup,
                                        report.exact_share, report.max_normalized_error))
    return points

