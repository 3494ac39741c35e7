"""Compiled search engine: every compiled search equals its numpy reference exactly.

Properties (hypothesis): the compiled full scan and the pruned exact search return the rows and
the float64 distances of :class:`mbi.search.searchers.BruteForce` (ties: lowest row) on random
tables with ties, duplicate keys, single rows, extreme weights and wide layouts; the compiled
tree answers like the numpy tree for the same tree and ``checks``; on the shipped table the
pruned search equals brute force on the queries real test digits issue.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi.config import TreeConfig
from mbi.search.compiled_tree import CompiledTree
from mbi.search.distance import KeyLayout, distances_reference, pack
from mbi.search.engine import SEARCH_KINDS, build_searcher
from mbi.search.exact import CompiledBruteForce, PrunedExact, column_groups, pack_rows
from mbi.search.weights import check_weights
from mbi.search.searchers import BruteForce, KMeansTree, search_report

ROOT = Path(__file__).resolve().parents[1]
WEIGHT_VALUES = (0.0, 1e-300, 1e-3, 0.074, 0.5, 1.0, 7.0, 1e6, 1e300)


@st.composite
def problems(draw: st.DrawFn, max_rows: int = 60) -> tuple[KeyLayout, np.ndarray, np.ndarray, tuple]:
    """(layout, keys, queries, weights): keys drawn from a small pool so duplicates and ties are common."""
    layout = KeyLayout(patch_len=draw(st.integers(1, 40)), patch_levels=draw(st.integers(2, 16)),
                       hidden_len=draw(st.integers(1, 70)), hidden_levels=draw(st.integers(2, 4)),
                       loc_levels=draw(st.integers(1, 14)))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, max_rows))
    pool = draw(st.integers(1, 12))
    levels = np.array([layout.patch_levels] * layout.patch_len + [layout.hidden_levels] * layout.hidden_len
                      + [layout.loc_levels] * 2)
    span = draw(st.sampled_from([1.0, 0.3]))  # 0.3: small levels only, many equal distances
    base = (rng.random((pool, layout.width)) * np.maximum(1, (levels * span).astype(int))).astype(np.uint8)
    keys = base[rng.integers(0, pool, n)]
    queries = np.concatenate([base[rng.integers(0, pool, 5)],
                              (rng.random((5, layout.width)) * levels).astype(np.uint8)])
    weights = tuple(draw(st.sampled_from(WEIGHT_VALUES)) for _ in range(3))
    if sum(weights) == 0:
        weights = (0.0, 0.0, 1.0)
    return layout, keys, queries, weights


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(1, 3), st.integers(1, 9), st.sampled_from([1, 2, 3, 8, 32, 128]))
def test_compiled_exact_searches_equal_the_numpy_reference(problem, n_threads: int, block: int,
                                                           group_size: int) -> None:
    layout, keys, queries, weights = problem
    ref = BruteForce(keys, layout, weights, n_threads=1).query(queries)
    plain = distances_reference(queries, keys, layout, weights)
    assert np.array_equal(ref.distance, plain.min(axis=1))
    assert np.array_equal(ref.index, plain.argmin(axis=1))  # argmin: first (lowest) row of the minimum
    # group_size 32/128 with 16-level patches: group sums above 255, the 16-bit variant of the bound
    pruned = PrunedExact(keys, layout, weights, n_threads=n_threads, block=block, group_size=group_size)
    for searcher in (CompiledBruteForce(keys, layout, weights, n_threads=n_threads), pruned):
        got = searcher.query(queries)
        assert np.array_equal(got.index, ref.index), type(searcher).__name__
        assert np.array_equal(got.distance, ref.distance), type(searcher).__name__
    got = pruned.query(queries)
    assert (got.rows_read <= got.rows_bounded).all() and (got.rows_bounded <= len(keys)).all()


@settings(max_examples=80, deadline=None)
@given(problems(), st.tuples(*[st.sampled_from(WEIGHT_VALUES)] * 3), st.sampled_from([1, 8, 32]))
def test_a_reweighted_pruned_index_answers_as_one_built_with_those_weights(problem, other, group_size: int) -> None:
    layout, keys, queries, weights = problem
    other = other if sum(other) > 0 else (0.0, 1.0, 0.0)
    built = PrunedExact(keys, layout, weights, block=3, group_size=group_size)
    moved = built.reweighted(other)
    fresh = PrunedExact(keys, layout, other, block=3, group_size=group_size)
    ref = BruteForce(keys, layout, other, n_threads=1).query(queries)
    for searcher in (moved, fresh):
        got = searcher.query(queries)
        assert np.array_equal(got.index, ref.index) and np.array_equal(got.distance, ref.distance)
    assert all(np.array_equal(a, b) for a, b in zip(moved.query_k(queries, 4), fresh.query_k(queries, 4)))
    assert built.weights == check_weights(weights)  # the index it came from keeps its own weights
    own = BruteForce(keys, layout, weights, n_threads=1).query(queries)
    assert np.array_equal(built.query(queries).index, own.index)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_compiled_packing_equals_numpy_packbits(problem) -> None:
    layout, keys, queries, _ = problem
    for k in (keys, queries):
        assert np.array_equal(pack_rows(layout.check_keys(k), layout, n_threads=2), pack(k, layout).words.T)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 70), st.integers(1, 40), st.integers(0, 2**31 - 1))
def test_column_groups_partition_the_columns(width: int, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 4, (50, width)).astype(np.uint8)
    values[:, ::3] = values[:, :1]  # duplicated columns: perfectly correlated
    groups = column_groups(values, size)
    cols = np.concatenate(groups)
    assert np.array_equal(np.sort(cols), np.arange(width))
    assert all(1 <= len(g) <= size and np.all(np.diff(g) > 0) for g in groups)
    if size >= 2 and width > 3:  # the first pairing round joins the most correlated columns: duplicates
        # (which of the duplicates of column 0 go together is a tie, and with an odd count one is left over)
        assert any(np.count_nonzero(g % 3 == 0) >= 2 for g in groups)


@pytest.mark.parametrize(("width", "size"), [(1200, 8), (6000, 8), (700, 1)])
def test_column_groups_of_wide_parts_stay_within_size(width: int, size: int) -> None:
    values = np.random.default_rng(0).integers(0, 2, (40, width)).astype(np.uint8)
    groups = column_groups(values, size)
    assert np.array_equal(np.sort(np.concatenate(groups)), np.arange(width))
    assert max(len(g) for g in groups) <= size


def test_largest_layouts_and_a_single_row() -> None:
    # parts close to the kernel's 65,535-bit limit; one key, and a table of one repeated key
    layout = KeyLayout(patch_len=4000, patch_levels=16, hidden_len=6000, hidden_levels=8, loc_levels=256)
    rng = np.random.default_rng(3)
    levels = np.array([16] * 4000 + [8] * 6000 + [256] * 2)
    keys = (rng.random((7, layout.width)) * levels).astype(np.uint8)
    queries = (rng.random((4, layout.width)) * levels).astype(np.uint8)
    for table in (keys, keys[:1], np.repeat(keys[:1], 5, axis=0)):
        for w in ((1.0, 1.0, 1.0), (1e-300, 1e300, 2.0)):
            ref = BruteForce(table, layout, w).query(queries)
            for kind in ("brute", "scan"):
                got = build_searcher(table, layout, w, kind, n_threads=2).query(queries)
                assert np.array_equal(got.index, ref.index) and np.array_equal(got.distance, ref.distance)


@settings(max_examples=25, deadline=None)
@given(problems(max_rows=120), st.integers(2, 5), st.integers(1, 8), st.integers(1, 20))
def test_compiled_tree_equals_numpy_tree(problem, branching: int, leaf_size: int, checks: int) -> None:
    layout, keys, queries, weights = problem
    tree = CompiledTree(keys, layout, weights, branching=branching, leaf_size=leaf_size, n_threads=2)
    got, ref = tree.query(queries, checks=checks), tree.reference_query(queries, checks=checks)
    for field in ("index", "distance", "comparisons", "levels"):
        assert np.array_equal(getattr(got, field), getattr(ref, field)), field
    # the same tree built by the plain class answers the same
    plain = KMeansTree(keys, layout, weights, branching=branching, leaf_size=leaf_size).query(queries, checks=checks)
    assert np.array_equal(plain.index, got.index) and np.array_equal(plain.distance, got.distance)


def test_engine_kinds_and_errors() -> None:
    layout = KeyLayout(patch_len=3, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=3)
    keys = np.zeros((4, layout.width), dtype=np.uint8)
    assert isinstance(build_searcher(keys, layout, (1, 1, 1)), PrunedExact)
    assert isinstance(build_searcher(keys, layout, (1, 1, 1), "scan"), CompiledBruteForce)
    assert isinstance(build_searcher(keys, layout, (1, 1, 1), "tree", tree=TreeConfig(leaf_size=2)), CompiledTree)
    assert SEARCH_KINDS[0] == "brute"
    with pytest.raises(ValueError, match="search kind"):
        build_searcher(keys, layout, (1, 1, 1), "faiss")
    with pytest.raises(ValueError, match="only apply"):
        build_searcher(keys, layout, (1, 1, 1), "brute", tree=TreeConfig(leaf_size=4))
    with pytest.raises(ValueError, match="n_threads"):
        build_searcher(keys, layout, (1, 1, 1), n_threads=0)


@pytest.fixture(scope="module")
def shipped_queries(mnist):
    """The shipped table and the queries its first 200 test digits issue at each glimpse step."""
    from mbi.inference.lookup import StepIndex, lookup_infer
    from mbi.memory.lut import cached_table
    from mbi.model.checkpoint import load_model

    if not (ROOT / "mbi" / "default_model" / "table.npz").is_file():
        pytest.skip("no shipped default model")
    model, table = load_model("default"), cached_table("default")
    weights = tuple(json.loads((ROOT / "mbi" / "default_model" / "lookup.json").read_text())["weights"])
    trace = lookup_infer(model, table, mnist.test_x[:200], index=StepIndex(table, weights))
    return table, weights, trace


def test_pruned_search_equals_brute_force_on_real_queries(shipped_queries) -> None:
    table, weights, trace = shipped_queries
    for w in (weights, (1.0, 1.0, 1.0)):
        for t in range(table.num_glimpses):
            rows = table.rows_of_step(t)
            keys, queries = table.keys[rows], trace.queries[:, t]
            # the compiled full scan (equal to numpy's on random tables, above) on all 200 queries,
            # the numpy reference itself on 30 of them
            ref = CompiledBruteForce(keys, table.layout, w, n_threads=2).query(queries)
            numpy_ref = BruteForce(keys, table.layout, w).query(queries[:30])
            assert np.array_equal(ref.index[:30], numpy_ref.index)
            assert np.array_equal(ref.distance[:30], numpy_ref.distance)
            got = PrunedExact(keys, table.layout, w, n_threads=2).query(queries)
            assert np.array_equal(got.index, ref.index) and np.array_equal(got.distance, ref.distance)
            assert (got.comparisons == len(rows)).all()  # the cost of the exhaustive search it equals
            assert got.rows_bounded.mean() < len(rows)  # ... which it did not need
            assert got.rows_read.mean() < 0.02 * len(rows)  # the group-sum bound reads few rows exactly
            if w == weights:  # the lookup trace itself was made by the engine's exact search
                assert np.array_equal(rows[ref.index], trace.rows[:, t])


def test_tree_report_uses_an_exact_reference(shipped_queries) -> None:
    table, weights, trace = shipped_queries
    rows = table.rows_of_step(1)[::20]  # 2,500 keys: a quick tree
    tree = build_searcher(table.keys[rows], table.layout, weights, "tree", tree=TreeConfig(checks=4))
    queries = trace.queries[:100, 1]
    report = search_report(tree, queries)
    exact = BruteForce(table.keys[rows], table.layout, weights).query(queries)
    found = tree.query(queries)
    assert report.exact_share == float(np.mean(found.distance == exact.distance))


def test_compiled_tree_equals_numpy_tree_on_real_queries(shipped_queries) -> None:
    table, weights, trace = shipped_queries
    rows = table.rows_of_step(2)[::20]  # 2,500 keys: a quick tree
    tree = CompiledTree(table.keys[rows], table.layout, weights, n_threads=2)
    queries = trace.queries[:60, 2]
    for checks in (1, 8, 32):  # beams selected by repeated minimum (small) and by sorting (large)
        got, ref = tree.query(queries, checks=checks), tree.reference_query(queries, checks=checks)
        for field in ("index", "distance", "comparisons", "levels"):
            assert np.array_equal(getattr(got, field), getattr(ref, field)), (checks, field)


def _plain_k_nearest(queries: np.ndarray, keys: np.ndarray, layout: KeyLayout, weights: tuple,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``min(k, N)`` nearest rows by (distance, row) from a plain sort of the reference distances."""
    d = distances_reference(queries, keys, layout, weights)
    order = np.lexsort((np.broadcast_to(np.arange(len(keys)), d.shape), d), axis=1)[:, :k]
    return order, np.take_along_axis(d, order, axis=1)


@settings(max_examples=150, deadline=None)
@given(problems(), st.sampled_from([1, 2, 3, 5, 16, 70]), st.integers(1, 3), st.integers(1, 9),
       st.sampled_from([1, 3, 8, 32]))
def test_compiled_k_nearest_equals_the_numpy_reference(problem, k: int, n_threads: int, block: int,
                                                       group_size: int) -> None:
    # ties and duplicate keys are common (keys from a small pool), k may exceed the rows, weights are extreme
    layout, keys, queries, weights = problem
    plain_rows, plain_dist = _plain_k_nearest(queries, keys, layout, weights, k)
    ref_rows, ref_dist = BruteForce(keys, layout, weights).query_k(queries, k)
    assert np.array_equal(ref_rows, plain_rows) and np.array_equal(ref_dist, plain_dist)
    pruned = PrunedExact(keys, layout, weights, n_threads=n_threads, block=block, group_size=group_size)
    rows, dist = pruned.query_k(queries, k)
    assert rows.shape == (len(queries), min(k, len(keys)))
    assert np.array_equal(rows, ref_rows) and np.array_equal(dist, ref_dist)
    first = pruned.query(queries)  # the nearest search is the k = 1 case
    assert np.array_equal(first.index, rows[:, 0]) and np.array_equal(first.distance, dist[:, 0])


def test_k_nearest_with_a_single_row_and_on_the_largest_layouts() -> None:
    layout = KeyLayout(patch_len=4000, patch_levels=16, hidden_len=6000, hidden_levels=8, loc_levels=256)
    rng = np.random.default_rng(4)
    levels = np.array([16] * 4000 + [8] * 6000 + [256] * 2)
    keys = (rng.random((9, layout.width)) * levels).astype(np.uint8)
    queries = np.concatenate([keys[:2], (rng.random((3, layout.width)) * levels).astype(np.uint8)])
    for table in (keys, keys[:1], np.repeat(keys[:1], 5, axis=0)):
        for w in ((1.0, 1.0, 1.0), (1e-300, 1e300, 2.0)):
            for k in (1, 4, 12):
                got = build_searcher(table, layout, w, n_threads=2).query_k(queries, k)
                ref = _plain_k_nearest(queries, table, layout, w, k)
                assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1]), (len(table), w, k)


def test_k_nearest_needs_an_exact_searcher_and_a_valid_k() -> None:
    layout = KeyLayout(patch_len=3, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=3)
    keys = np.zeros((4, layout.width), dtype=np.uint8)
    with pytest.raises(ValueError, match="k-nearest"):
        build_searcher(keys, layout, (1, 1, 1), "tree", tree=TreeConfig(leaf_size=2)).query_k(keys, 2)
    with pytest.raises(ValueError, match="k"):
        build_searcher(keys, layout, (1, 1, 1)).query_k(keys, 0)


def test_k_nearest_equals_the_reference_on_real_queries(shipped_queries) -> None:
    table, weights, trace = shipped_queries
    for t in range(table.num_glimpses):
        keys, queries = table.keys_of_step(t), trace.queries[:40, t]
        got = build_searcher(keys, table.layout, weights, n_threads=2).query_k(queries, 16)
        ref = BruteForce(keys, table.layout, weights).query_k(queries, 16)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
        assert np.array_equal(table.rows_of_step(t)[got[0][:, 0]], trace.rows[:40, t])  # the lookup's own row


@settings(max_examples=100, deadline=None)
@given(problems(), st.sampled_from([0.05, 0.3, 1.0, 10.0]), st.integers(1, 9))
def test_approximate_pruned_search_is_within_its_factor(problem, eps: float, block: int) -> None:
    layout, keys, queries, weights = problem
    plain = distances_reference(queries, keys, layout, weights)
    got = build_searcher(keys, layout, weights, n_threads=2, eps=eps).query(queries)
    exact = plain.min(axis=1)
    assert np.array_equal(got.distance, plain[np.arange(len(queries)), got.index])  # the row's own distance
    assert (got.distance <= exact * (1 + eps) * (1 + 1e-12)).all()
    assert (got.distance[exact == 0] == 0).all()  # an identical key is never skipped


def test_eps_only_for_the_pruned_search() -> None:
    layout = KeyLayout(patch_len=3, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=3)
    keys = np.zeros((4, layout.width), dtype=np.uint8)
    with pytest.raises(ValueError, match="eps only applies"):
        build_searcher(keys, layout, (1, 1, 1), "scan", eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        build_searcher(keys, layout, (1, 1, 1), eps=-0.1)
