"""The one way to get a searcher over a table's keys: :func:`build_searcher`.

Every caller (lookup inference, Bayesian optimisation, table-size curves, energy and SRAM
measurements, the dashboard's traces, ``reproduce``) asks this factory, so the fastest
implementation of each kind is used everywhere:

* ``"brute"``: exact nearest key (:class:`mbi.search.exact.PrunedExact`, compiled, skips rows
  by lower bounds; the same answers as a full scan);
* ``"scan"``: exact by a compiled full scan (:class:`mbi.search.exact.CompiledBruteForce`),
  for measurements that want every row compared;
* ``"tree"``: the k-means tree of Sec. III-C, searched compiled
  (:class:`mbi.search.compiled_tree.CompiledTree`); ``tree_params`` are those of
  :class:`mbi.search.searchers.KMeansTree` (branching, leaf_size, checks, seed, ...).

The numpy classes in :mod:`mbi.search.searchers` (``BruteForce``, ``KMeansTree.query``) are the
references the tests compare these with.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mbi.search.compiled_tree import CompiledTree
from mbi.search.distance import KeyLayout
from mbi.search.exact import CompiledBruteForce, PrunedExact
from mbi.search.searchers import Searcher

SEARCH_KINDS = ("brute", "scan", "tree")
"""Kinds :func:`build_searcher` knows; ``"brute"`` (exact) is the default everywhere."""


def build_searcher(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], kind: str = "brute",
                   n_threads: int | None = None, **tree_params: int) -> Searcher:
    """A searcher of ``kind`` over ``keys`` (``uint8 [N, D]``) under eq. (1) with ``weights``.

    ``n_threads``: threads that share a batch of queries (default: all usable cores).
    ``tree_params`` only apply to ``kind="tree"``.
    """
    if kind not in SEARCH_KINDS:
        raise ValueError(f"search kind must be one of {', '.join(SEARCH_KINDS)}; got {kind!r}")
    if kind != "tree" and tree_params:
        raise ValueError(f"tree parameters {sorted(tree_params)} only apply to the 'tree' search, not {kind!r}")
    if kind == "tree":
        return CompiledTree(keys, layout, weights, n_threads=n_threads, **tree_params)
    if kind == "scan":
        return CompiledBruteForce(keys, layout, weights, n_threads=n_threads)
    return PrunedExact(keys, layout, weights, n_threads=n_threads)


def exact_reference(searcher: Searcher) -> Searcher:
    """The engine's exact searcher over the same keys, layout and weights as ``searcher``."""
    return build_searcher(searcher.keys, searcher.layout, searcher.weights, "brute",
                          n_threads=getattr(searcher, "n_threads", None))
