"""Searchers: brute force is exact with the lowest-row tie rule; the k-means tree converges to it."""

from __future__ import annotations


import numpy as np
import pytest

from benchmarks.synthetic_table import make_table
from mbi.search.distance import KeyLayout, pack
from mbi.search.searchers import (
    BruteForce,
    KMeansTree,
    SearchResult,
    compare_with_reference,
    search_report,
    tradeoff_curve,
)


LAYOUT = KeyLayout(patch_len=6, patch_levels=4, hidden_len=10, hidden_levels=2, loc_levels=4)


def clustered_keys(rng: np.random.Generator, n: int, layout: KeyLayout = LAYOUT, n_hidden: int = 5) -> np.ndarray:
    """Keys with few distinct hidden parts and small levels, so duplicates and ties are common."""
    hidden = rng.integers(0, layout.hidden_levels, (n_hidden, layout.hidden_len))[rng.integers(0, n_hidden, n)]
    return np.concatenate([
        rng.integers(0, 2, (n, layout.patch_len)),
        hidden,
        rng.integers(0, layout.loc_levels, (n, 2)),
    ], axis=1).astype(np.uint8)


def naive_scan(queries: np.ndarray, keys: np.ndarray, layout: KeyLayout,
               w: tuple[float, float, float]) -> tuple[list[int], list[float]]:
    """Eq. (1) in plain Python, first (lowest) row wins ties."""
    a, b, c = (float(x) for x in w)
    rows, dists = [], []
    for q in queries.astype(int).tolist():
        best_row, best = -1, float("inf")
        for r, k in enumerate(keys.astype(int).tolist()):
            m = [sum(abs(x - y) for x, y in zip(q[s], k[s])) for s in layout.part_cols]
            d = ((a * m[0] + b * m[1]) + c * m[2]) / ((a + b) + c)
            if d < best:
                best_row, best = r, d
        rows.append(best_row)
        dists.append(best)
    return rows, dists


@pytest.mark.parametrize("w", [(1, 1, 1), (0.3, 2.0, 0.7), (0, 1, 0)])
def test_brute_force_equals_naive_scan(w: tuple[float, float, float]) -> None:
    rng = np.random.default_rng(0)
    keys, queries = clustered_keys(rng, 150), clustered_keys(rng, 25)
    queries[:5] = keys[[3, 3, 40, 149, 0]]  # exact hits, some of them duplicated rows
    rows, dists = naive_scan(queries, keys, LAYOUT, w)
    result = BruteForce(keys, LAYOUT, w, n_threads=2).query(queries)
    assert result.index.tolist() == rows
    assert result.distance.tolist() == dists
    assert (result.comparisons == len(keys)).all() and (result.levels == 0).all()
    assert result.index.dtype == np.int64 and result.distance.dtype == np.float64


def test_tree_with_one_leaf_is_brute_force() -> None:
    rng = np.random.default_rng(1)
    keys, queries = clustered_keys(rng, 200), clustered_keys(rng, 40)
    bf = BruteForce(keys, LAYOUT, (1, 2, 1)).query(queries)
    tree = KMeansTree(keys, LAYOUT, (1, 2, 1), leaf_size=200)
    assert tree.n_nodes == 1
    result = tree.query(queries)
    np.testing.assert_array_equal(result.index, bf.index)
    np.testing.assert_array_equal(result.distance, bf.distance)
    assert (result.comparisons == 200).all() and (result.levels == 0).all()


@pytest.mark.parametrize("branching, leaf_size", [(2, 3), (4, 8), (7, 1)])
def test_tree_with_all_leaves_checked_is_brute_force(branching: int, leaf_size: int) -> None:
    rng = np.random.default_rng(2)
    keys, queries = clustered_keys(rng, 300), clustered_keys(rng, 50)
    w = (0.5, 1.0, 0.25)
    bf = BruteForce(keys, LAYOUT, w).query(queries)
    tree = KMeansTree(keys, LAYOUT, w, branching=branching, leaf_size=leaf_size, seed=3)
    n_leaves = int(tree.summary().is_leaf.sum())
    result = tree.query(queries, checks=n_leaves)
    np.testing.assert_array_equal(result.index, bf.index)  # same tie rule: lowest row
    np.testing.assert_array_equal(result.distance, bf.distance)
    assert (result.comparisons > len(keys)).all()  # every key and some centroids


def test_tree_structure_partitions_the_table() -> None:
    rng = np.random.default_rng(4)
    keys = clustered_keys(rng, 500)
    tree = KMeansTree(keys, LAYOUT, (1, 1, 1), branching=3, leaf_size=10, max_depth=4)
    s = tree.summary()
    assert s.parent[0] == -1 and s.depth[0] == 0 and s.size[0] == 500
    for node in s.node[1:]:
        assert s.depth[node] == s.depth[s.parent[node]] + 1
    for node in s.node[~s.is_leaf]:
        assert s.size[s.parent == node].sum() == s.size[node]
    rows = np.concatenate([s.leaf_rows[n] for n in s.node[s.is_leaf]])
    assert sorted(rows.tolist()) == list(range(500))
    for n in s.node[s.is_leaf]:
        assert len(s.leaf_rows[n]) == s.size[n]
        assert np.all(np.diff(s.leaf_rows[n]) > 0)
        assert s.size[n] <= 10 or s.depth[n] == 4 or len(np.unique(keys[s.leaf_rows[n]], axis=0)) < 3
    assert tree.height <= 4


def test_table_keys_descend_to_their_own_leaf() -> None:
    keys, _, layout = make_table(3000, 1, seed=5)
    tree = KMeansTree(keys, layout, (1, 1, 1), leaf_size=16)
    result = tree.query(keys[:500], checks=1)
    assert (result.distance == 0).mean() >= 0.99
    assert (result.levels >= 1).all()


def test_identical_keys_make_one_leaf() -> None:
    keys = np.tile(clustered_keys(np.random.default_rng(6), 1), (50, 1))
    tree = KMeansTree(keys, LAYOUT, (1, 1, 1), leaf_size=4)
    assert tree.n_nodes == 1
    result = tree.query(keys[:3])
    assert result.index.tolist() == [0, 0, 0] and result.distance.tolist() == [0, 0, 0]


def test_tree_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(7)
    keys, queries = clustered_keys(rng, 400), clustered_keys(rng, 30)
    a = KMeansTree(keys, LAYOUT, (1, 1, 1), leaf_size=8, seed=11).query(queries, checks=2)
    b = KMeansTree(keys, LAYOUT, (1, 1, 1), leaf_size=8, seed=11).query(queries, checks=2)
    for x, y in zip((a.index, a.distance, a.comparisons), (b.index, b.distance, b.comparisons)):
        np.testing.assert_array_equal(x, y)


def test_synthetic_table_tree_is_near_exact_with_few_comparisons() -> None:
    keys, queries, layout = make_table(6000, 300, seed=8)
    report = search_report(KMeansTree(keys, layout, (1, 1, 1), leaf_size=16, checks=16), queries)
    assert report.exact_share >= 0.95
    assert report.speedup >= 5
    assert report.max_normalized_error < 0.1


def test_search_report_of_brute_force_is_exact() -> None:
    rng = np.random.default_rng(9)
    keys, queries = clustered_keys(rng, 100), clustered_keys(rng, 20)
    report = search_report(BruteForce(keys, LAYOUT, (1, 1, 1)), queries, bins=5)
    assert report.exact_share == 1.0 and report.speedup == 1.0 and report.mean_levels == 0.0
    assert report.max_normalized_error == 0.0
    assert report.hist_counts.tolist() == [20, 0, 0, 0, 0] and len(report.hist_edges) == 6


def test_compare_with_reference_normalizes_by_max_distance() -> None:
    one = np.ones(2, dtype=np.int64)
    found = SearchResult(np.array([0, 1]), np.array([1.0, 3.0]), 5 * one, 2 * one)
    best = SearchResult(np.array([0, 2]), np.array([1.0, 2.0]), 10 * one, 0 * one)
    report = compare_with_reference(found, best, max_distance=10.0, table_rows=10, bins=4, hist_range=0.2)
    assert report.normalized_error.tolist() == [0.0, 0.1]
    assert report.exact_share == 0.5 and report.speedup == 2.0 and report.mean_levels == 2.0
    assert report.hist_counts.tolist() == [1, 0, 1, 0]


def test_tradeoff_curve_has_one_point_per_setting() -> None:
    keys, queries, layout = make_table(2000, 50, seed=10)
    points = tradeoff_curve(keys, layout, (1, 1, 1), queries, leaf_sizes=(8, 32), checks=(1, 4))
    assert [(p.leaf_size, p.checks) for p in points] == [(8, 1), (8, 4), (32, 1), (32, 4)]
    assert all(0 <= p.exact_share <= 1 and p.mean_comparisons > 0 for p in points)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(branching=1), ValueError, "branching must be >= 2"),
    (dict(leaf_size=0), ValueError, "leaf_size must be >= 1"),
    (dict(max_depth=0), ValueError, "max_depth must be >= 1"),
    (dict(checks=0), ValueError, "checks must be >= 1"),
    (dict(iterations=0), ValueError, "iterations must be >= 1"),
    (dict(branching=2.5), TypeError, "branching must be an int"),
    (dict(weights=(1, -1, 0)), ValueError, "weight b must be >= 0"),
])
def test_tree_rejects_bad_parameters(kwargs: dict, error: type, match: str) -> None:
    keys = clustered_keys(np.random.default_rng(0), 20)
    args = dict(weights=(1, 1, 1)) | kwargs
    with pytest.raises(error, match=match):
        KMeansTree(keys, LAYOUT, **args)


def test_searchers_reject_bad_tables_and_queries() -> None:
    keys = clustered_keys(np.random.default_rng(0), 20)
    with pytest.raises(ValueError, match="table is empty"):
        BruteForce(keys[:0], LAYOUT, (1, 1, 1))
    with pytest.raises(TypeError, match="layout must be a KeyLayout"):
        BruteForce(keys, (6, 4, 10, 2, 4), (1, 1, 1))  # type: ignore[arg-type]
    tree = KMeansTree(keys, LAYOUT, (1, 1, 1), leaf_size=4)
    with pytest.raises(ValueError, match="queries has 5 columns"):
        tree.query(keys[:, :5])
    with pytest.raises(ValueError, match="checks must be >= 1"):
        tree.query(keys, checks=0)


def test_pack_in_chunks_is_the_same() -> None:
    keys = clustered_keys(np.random.default_rng(12), 50)
    np.testing.assert_array_equal(pack(keys, LAYOUT, chunk_rows=7).words, pack(keys, LAYOUT).words)


def test_plot_builders_draw_search_results() -> None:
    import dataclasses

    from mbi import plots

    keys, queries, layout = make_table(1500, 40, seed=13)
    tree = KMeansTree(keys, layout, (1, 1, 1), leaf_size=16)
    report = search_report(tree, queries, bins=10)
    hist = plots.distance_error_histogram(report.hist_counts, report.hist_edges, report.exact_share)
    assert abs(sum(hist.data[0].y) - 100) < 1e-9
    points = tradeoff_curve(keys, layout, (1, 1, 1), queries, leaf_sizes=(8, 16), checks=(1, 2))
    assert len(plots.search_tradeoff([dataclasses.asdict(p) for p in points]).data) == 2
    s = tree.summary()
    icicle = plots.key_tree(s.parent, s.size, s.depth, s.is_leaf, kind="icicle", max_depth=2).data[0]
    assert len(icicle.ids) == int((s.depth <= 2).sum()) and icicle.parents[0] == ""


ONE_THREAD = """
import sys
import numpy as np
import threadpoolctl
from mbi.search.distance import KeyLayout
from mbi.search.searchers import KMeansTree

if sys.argv[1] == "sklearn-first":
    import sklearn.cluster  # noqa: F401
seen = []
split = KMeansTree._split
def spy(self, features, rng):
    seen.extend((info["user_api"], info["num_threads"]) for info in threadpoolctl.threadpool_info())
    return split(self, features, rng)
KMeansTree._split = spy
rng = np.random.default_rng(0)
keys = rng.integers(0, 2, size=(3000, 40), dtype=np.uint8)
for _ in range(2):  # the first and the second tree of the process
    layout = KeyLayout(patch_len=32, patch_levels=4, hidden_len=6, hidden_levels=2, loc_levels=4)
    tree = KMeansTree(keys, layout, (1.0, 1.0, 1.0), branching=4, leaf_size=64, seed=0)
import json
print(json.dumps(sorted(set(seen))))
"""


@pytest.mark.parametrize("order", ["sklearn-first", "tree-first"])
def test_a_tree_runs_k_means_on_one_thread_whatever_was_imported_before(order):
    """In a fresh process, each k-means split of the first and the second tree sees every thread pool (scikit-learn's
    OpenMP, BLAS) limited to one thread, whether scikit-learn was imported before or by the tree itself (it used to
    run the first tree of a process on every core's OpenMP threads: trees depended on the machine)."""
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", ONE_THREAD, order], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "4"})
    assert out.returncode == 0, out.stderr[-2000:]
    pools = json.loads(out.stdout.strip().splitlines()[-1])
    assert "openmp" in {api for api, _ in pools}, pools  # scikit-learn's OpenMP runtime was loaded during the splits
    assert all(threads == 1 for _, threads in pools), pools
