"""A k-means tree's view (its shape and its answers to queries) built in a short-lived child process, kept on disk.

Building a k-means tree over one glimpse step's keys (:func:`mbi.search.engine.build_searcher`
with ``kind="tree"``: scikit-learn's ``KMeans`` at every node) costs seconds and memory: the built
tree holds a copy of the keys, two packed copies and the centroids (about 60 MB for the shipped
table's 50,000 keys of a step), and the build needs scikit-learn and scipy (about 70 MB of
libraries once imported). A page that draws the tree and its search quality needs much less: the
tree's shape (:class:`mbi.search.searchers.TreeSummary`) and its answers to a set of queries for a
few ``checks``. :func:`tree_view` computes exactly that in a child process
(``python -m mbi.runs.treecache IN OUT``), whose memory dies with it, keeps the result in
``$MBI_HOME/trees/`` under a digest of every input (keys, layout, weights, tree settings,
queries, checks), and returns it; later calls, in any process, read the file. When the child
fails, the view is computed in the calling process (same result), which then reports the reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.runs import views
from mbi.runs.child import ChildError, run_child
from mbi.search.distance import KeyLayout
from mbi.search.engine import build_searcher
from mbi.search.searchers import SearchResult, TreeSummary
from mbi.search.weights import check_weights
from mbi.store import artifacts_root, atomic_save_npz

FORMAT_VERSION = 2
"""Part of every view's name: 2 since trees are built on one thread whatever was imported before (a view of
version 1 may hold a tree built on every core's threads)."""
RESULT_FIELDS = ("index", "distance", "comparisons", "levels")


@dataclass(frozen=True)
class TreeView:
    """A built k-means tree as a view needs it.

    Attributes:
        summary: the tree's nodes (:meth:`mbi.search.searchers.KMeansTree.summary`).
        height: depth of its deepest leaf.
        results: ``checks -> SearchResult`` of the tree for the ``Q`` queries it was asked (rows index the
            keys the tree was built on; arrays ``[Q]``).
    """

    summary: TreeSummary
    height: int
    results: dict[int, SearchResult]

    @property
    def n_nodes(self) -> int:
        """Number of tree nodes, leaves included."""
        return len(self.summary.node)

    @property
    def n_queries(self) -> int:
        """Number of queries the tree answered."""
        return len(next(iter(self.results.values())).index)

    def answers(self, checks: int, count: int) -> SearchResult:
        """The tree's answers with ``checks`` to the first ``count`` queries."""
        found = self.results[int(checks)]
        return SearchResult(*(getattr(found, f)[: int(count)] for f in RESULT_FIELDS))


def compute_view(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], tree: TreeConfig,
                 queries: np.ndarray, checks: Sequence[int]) -> TreeView:
    """Build the tree of ``keys`` (``uint8 [N, D]``) and answer ``queries`` (``[Q, D]``) with every ``checks``."""
    searcher = build_searcher(keys, layout, weights, "tree", tree=tree)
    return TreeView(searcher.summary(), int(searcher.height),
                    {int(c): searcher.query(queries, checks=int(c)) for c in checks})


def save_view(view: TreeView, path: str | Path) -> Path:
    """Write a view as ``.npz`` (atomic, no pickle; the leaves' rows as one array plus their lengths)."""
    s = view.summary
    leaves = np.flatnonzero(s.is_leaf)
    checks = sorted(view.results)
    results = {f"{f}_{c}": getattr(view.results[c], f) for c in checks for f in RESULT_FIELDS}
    return atomic_save_npz(path, parent=s.parent, depth=s.depth, size=s.size, is_leaf=s.is_leaf,
                           leaf_rows=np.concatenate([s.leaf_rows[int(n)] for n in leaves]).astype(np.int64),
                           leaf_lengths=np.array([len(s.leaf_rows[int(n)]) for n in leaves], dtype=np.int64),
                           height=np.int64(view.height), checks=np.array(checks, dtype=np.int64), **results)


def load_view(path: str | Path) -> TreeView:
    """Read :func:`save_view`'s file; ValueError when it is damaged."""
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
        is_leaf = data["is_leaf"].astype(bool)
        leaves = np.flatnonzero(is_leaf)
        lengths = data["leaf_lengths"]
        if len(lengths) != len(leaves) or int(lengths.sum()) != len(data["leaf_rows"]):
            raise ValueError("leaf rows do not match the leaves")
        starts = np.cumsum(lengths) - lengths
        leaf_rows = {int(n): data["leaf_rows"][s: s + k] for n, s, k in zip(leaves, starts, lengths)}
        n = len(is_leaf)
        summary = TreeSummary(np.arange(n, dtype=np.int64), data["parent"], data["depth"], data["size"], is_leaf,
                              leaf_rows)
        results = {int(c): SearchResult(*(data[f"{f}_{int(c)}"] for f in RESULT_FIELDS)) for c in data["checks"]}
        if any(len(a) != n for a in (summary.parent, summary.depth, summary.size)):
            raise ValueError("node arrays of different lengths")
    except Exception as exc:  # zip, key and shape errors mean the same: compute again
        raise ValueError(f"{path} is not a valid tree view ({type(exc).__name__}: {exc})") from exc
    return TreeView(summary, int(data["height"]), results)


def view_path(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], tree: TreeConfig, queries: np.ndarray,
              checks: Sequence[int], root: Path | None = None) -> Path:
    """Where :func:`tree_view` keeps the view of these inputs: ``trees/`` under ``root`` (default ``$MBI_HOME``)."""
    digest = hashlib.sha256()
    settings = {"format": FORMAT_VERSION, "layout": dataclasses.astuple(layout),
                "weights": [round(float(w), 12) for w in check_weights(weights)], "tree": tree.to_dict(),
                "checks": sorted(int(c) for c in checks)}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for array in (keys, queries):
        array = np.ascontiguousarray(array, dtype=np.uint8)
        digest.update(repr(array.shape).encode())
        digest.update(array.data)
    return (root or artifacts_root()) / "trees" / f"tree-{digest.hexdigest()[:24]}.npz"


def _compute_in_child(inputs: Path, out: Path) -> None:
    """Run this module as a child process on the saved ``inputs`` (:func:`mbi.runs.child.run_child`, bounded); a
    failing child is ignored (the caller then computes in its own process, which reports the reason)."""
    try:
        run_child("mbi.runs.treecache", [str(inputs), str(out)], "the k-means tree")
    except ChildError:
        pass


def tree_view(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], tree: TreeConfig, queries: np.ndarray,
              checks: Sequence[int], root: Path | None = None) -> TreeView:
    """:func:`compute_view` of these inputs: read from ``$MBI_HOME/trees/``, else computed in a child process
    (else here) and saved."""
    path = view_path(keys, layout, weights, tree, queries, checks, root)
    if not views.restore(path, root):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix="-in.npz", dir=path.parent)
        inputs = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:  # uncompressed: read once by the child, then deleted
                np.savez(handle, keys=keys, queries=queries, layout=np.array(dataclasses.astuple(layout)),
                         weights=np.array(check_weights(weights), dtype=np.float64),
                         tree=np.array([tree.branching, tree.leaf_size, tree.checks, tree.seed]),
                         checks=np.array(sorted(int(c) for c in checks), dtype=np.int64))
            _compute_in_child(inputs, path)
        finally:
            inputs.unlink(missing_ok=True)
    if path.is_file():
        try:
            return load_view(path)
        except ValueError:
            pass
    view = compute_view(keys, layout, weights, tree, queries, checks)
    save_view(view, path)
    return view


def _main(inputs: str, out: str) -> None:
    """The child's work: :func:`compute_view` of the inputs file, saved to ``out``."""
    with np.load(inputs, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    branching, leaf_size, checks, seed = (int(v) for v in data["tree"])
    layout = KeyLayout(*(int(v) for v in data["layout"]))
    view = compute_view(data["keys"], layout, tuple(float(w) for w in data["weights"]),
                        TreeConfig(branching=branching, leaf_size=leaf_size, checks=checks, seed=seed),
                        data["queries"], [int(c) for c in data["checks"]])
    save_view(view, out)


__all__ = ["TreeView", "compute_view", "load_view", "save_view", "tree_view", "view_path"]

if __name__ == "__main__":
    _main(*sys.argv[1:3])
