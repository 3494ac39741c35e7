"""The one way to get a searcher over a table's keys: :func:`build_searcher`.

Every caller (lookup inference, Bayesian optimisation, table-size curves, energy and SRAM
measurements, the dashboard's traces, ``reproduce``) asks this factory, so the fastest
implementation of each kind is used everywhere:

* ``"brute"``: exact nearest key (:class:`mbi.search.exact.PrunedExact`, compiled, skips rows
  by lower bounds; the same answers as a full scan), and its ``k`` nearest keys
  (:meth:`~mbi.search.exact.PrunedExact.query_k`); ``eps`` > 0 makes it (1 + eps)-approximate;
* ``"scan"``: exact by a compiled full scan (:class:`mbi.search.exact.CompiledBruteForce`),
  for measurements that want every row compared;
* ``"tree"``: the k-means tree of Sec. III-C, searched compiled
  (:class:`mbi.search.compiled_tree.CompiledTree`) with the settings of
  a :class:`mbi.config.TreeConfig` (branching, leaf_size, checks, seed).

The numpy classes in :mod:`mbi.search.searchers` (``BruteForce``, ``KMeansTree.query``) are the
references the tests compare these with.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.search.compiled_tree import CompiledTree
from mbi.search.distance import KeyLayout
from mbi.search.exact import CompiledBruteForce, PrunedExact
from mbi.search.searchers import Searcher

SEARCH_KINDS = ("brute", "scan", "tree")
"""Kinds :func:`build_searcher` knows; ``"brute"`` (exact) is the default everywhere."""


def build_searcher(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], kind: str = "brute",
                   n_threads: int | None = None, tree: TreeConfig | None = None, eps: float = 0.0) -> Searcher:
    """A searcher of ``kind`` over ``keys`` (``uint8 [N, D]``) under eq. (1) with ``weights``.

    ``n_threads``: threads that share a batch of queries (default: all usable cores).
    ``tree``: the k-means tree's settings (default :class:`mbi.config.TreeConfig`), only for ``kind="tree"``.
    ``eps``: only for ``kind="brute"``: > 0 makes the pruned search (1 + eps)-approximate
    (:class:`mbi.search.exact.PrunedExact`); 0, the default, is exact.
    """
    if kind not in SEARCH_KINDS:
        raise ValueError(f"search kind must be one of {', '.join(SEARCH_KINDS)}; got {kind!r}")
    if kind != "tree" and tree is not None:
        raise ValueError(f"tree settings only apply to the 'tree' search, not {kind!r}")
    if kind != "brute" and eps != 0.0:
        raise ValueError(f"eps only applies to the 'brute' (pruned) search, not {kind!r}")
    if kind == "tree":
        return CompiledTree.of(keys, layout, weights, tree or TreeConfig(), n_threads=n_threads)
    if kind == "scan":
        return CompiledBruteForce(keys, layout, weights, n_threads=n_threads)
    return PrunedExact(keys, layout, weights, n_threads=n_threads, eps=eps)


def exact_reference(searcher: Searcher) -> Searcher:
    """The engine's exact searcher over the same keys, layout and weights as ``searcher``."""
    return build_searcher(searcher.keys, searcher.layout, searcher.weights, "brute",
                          n_threads=getattr(searcher, "n_threads", None))
