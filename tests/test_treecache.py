"""Tree views built in a child process (mbi.runs.treecache) equal the engine's tree built here; the disk copy is
reused, a damaged one is rebuilt, a failing child falls back to this process."""

from __future__ import annotations

import numpy as np
import pytest

from mbi.config import TreeConfig
from mbi.runs import treecache
from mbi.search.distance import KeyLayout
from mbi.search.engine import build_searcher

LAYOUT = KeyLayout(patch_len=12, patch_levels=4, hidden_len=16, hidden_levels=2, loc_levels=5)
WEIGHTS = (0.2, 0.3, 0.5)
TREE = TreeConfig(branching=3, leaf_size=8, seed=2)
CHECKS = (1, 2, 4)


def random_keys(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.concatenate([rng.integers(0, LAYOUT.patch_levels, (n, LAYOUT.patch_len)),
                           rng.integers(0, LAYOUT.hidden_levels, (n, LAYOUT.hidden_len)),
                           rng.integers(0, LAYOUT.loc_levels, (n, 2))], axis=1).astype(np.uint8)


@pytest.fixture()
def inputs(rng):
    return random_keys(rng, 400), random_keys(rng, 50)


def assert_view_is_the_tree(view: treecache.TreeView, keys: np.ndarray, queries: np.ndarray) -> None:
    """The view against the engine's tree built in this process on the same inputs."""
    tree = build_searcher(keys, LAYOUT, WEIGHTS, "tree", tree=TREE)
    ref = tree.summary()
    assert view.n_nodes == tree.n_nodes and view.height == tree.height
    for field in ("node", "parent", "depth", "size", "is_leaf"):
        np.testing.assert_array_equal(getattr(view.summary, field), getattr(ref, field))
    assert view.summary.leaf_rows.keys() == ref.leaf_rows.keys()
    for node, rows in ref.leaf_rows.items():
        np.testing.assert_array_equal(view.summary.leaf_rows[node], rows)
    assert sorted(view.results) == list(CHECKS)
    for checks in CHECKS:
        want = tree.query(queries, checks=checks)
        for count in (len(queries), 7):
            got = view.answers(checks, count)
            for field in treecache.RESULT_FIELDS:
                np.testing.assert_array_equal(getattr(got, field), getattr(want, field)[:count])


def test_view_from_the_child_equals_the_tree_built_here(inputs, tmp_path, monkeypatch):
    keys, queries = inputs

    def not_here(*args, **kwargs):
        raise AssertionError("the view was computed in the calling process, not in the child")

    monkeypatch.setattr(treecache, "compute_view", not_here)  # the child process is not patched
    view = treecache.tree_view(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, root=tmp_path)
    assert_view_is_the_tree(view, keys, queries)
    files = list((tmp_path / "trees").iterdir())
    assert [f.name for f in files] == [treecache.view_path(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS,
                                                           tmp_path).name]  # no input file left behind
    monkeypatch.setattr(treecache, "_compute_in_child", not_here)
    again = treecache.tree_view(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, root=tmp_path)  # read from disk
    assert_view_is_the_tree(again, keys, queries)


def test_view_path_depends_on_every_input(inputs, tmp_path):
    keys, queries = inputs
    base = treecache.view_path(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, tmp_path)
    other_keys = keys.copy()
    other_keys[0, 0] ^= 1
    variants = [treecache.view_path(other_keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, tmp_path),
                treecache.view_path(keys, LAYOUT, WEIGHTS, TREE, queries[:-1], CHECKS, tmp_path),
                treecache.view_path(keys, LAYOUT, (0.3, 0.3, 0.4), TREE, queries, CHECKS, tmp_path),
                treecache.view_path(keys, LAYOUT, WEIGHTS, TreeConfig(branching=3, leaf_size=8, seed=3), queries,
                                    CHECKS, tmp_path),
                treecache.view_path(keys, LAYOUT, WEIGHTS, TREE, queries, (1, 2), tmp_path)]
    assert len({base, *variants}) == 6


def test_damaged_view_is_rebuilt_and_a_failing_child_falls_back_here(inputs, tmp_path, monkeypatch):
    keys, queries = inputs
    monkeypatch.setattr(treecache, "_compute_in_child", lambda *args: None)  # a child that does nothing
    view = treecache.tree_view(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, root=tmp_path)
    assert_view_is_the_tree(view, keys, queries)
    path = treecache.view_path(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a valid tree view"):
        treecache.load_view(path)
    assert_view_is_the_tree(treecache.tree_view(keys, LAYOUT, WEIGHTS, TREE, queries, CHECKS, root=tmp_path),
                            keys, queries)
    treecache.load_view(path)  # rewritten whole
