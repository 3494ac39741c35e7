"""Keys read back as what they mean: patches, hidden state and glimpse location.

A table key is a row of integer levels ``[patch | h_{t-1} | l_{t-1}]``
(:mod:`mbi.memory.lut`, :class:`mbi.search.distance.KeyLayout`). :func:`decode_key` turns one
key (or the mean of several, e.g. a k-means node's centroid) back into the
``num_patches`` patches of ``patch_size x patch_size`` levels the RAM read, the
previous hidden state and the location as grid cell and pixel centre, so a
view can draw them. :func:`subtree_rows` and :func:`node_centroid` give the
table rows under a node of :class:`mbi.search.searchers.KMeansTree` and their mean key
(the k-means centroid of the node, expressed in key levels), :func:`central_keys`
the keys nearest that mean; :func:`location_counts` maps where a set of keys looked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from typing import Sequence

from mbi.config import RAMConfig
from mbi.search.distance import KeyLayout
from mbi.search.weights import check_weights
from mbi.search.searchers import TreeSummary

_CHUNK_ROWS = 4096  # rows whose float64 differences :func:`central_keys` holds at once (~8 MB for the default keys)


def _check_width(keys: np.ndarray, cfg: RAMConfig) -> None:
    width = cfg.patch_vector_len + cfg.state_size + 2
    if keys.shape[-1] != width:
        raise ValueError(f"keys have {keys.shape[-1]} columns; this model's keys have {width} "
                         f"({cfg.patch_vector_len} patch + {cfg.state_size} hidden + 2 location)")


@dataclass(frozen=True)
class DecodedKey:
    """One key (or a mean of keys) in the RAM's terms.

    Attributes:
        patches: ``float64 [K, p, p]`` patch levels (0 .. 2**patch_bits - 1; fractional for a mean).
        intensity: ``patches`` scaled to [0, 1] (what :func:`mbi.plots.glimpse_patches` draws).
        hidden: ``float64 [S]`` previous hidden state in levels.
        loc: ``float64 [2]`` grid location (row, col) of the glimpse.
        centre_px: ``float64 [2]`` its pixel centre (row, col) on the 28 x 28 image.
        widths_px: image width (px) each patch covers, finest first.
    """

    patches: np.ndarray
    intensity: np.ndarray
    hidden: np.ndarray
    loc: np.ndarray
    centre_px: np.ndarray
    widths_px: tuple[int, ...]


def decode_key(key: np.ndarray, cfg: RAMConfig) -> DecodedKey:
    """Split one key row (integer levels, or float means) into patches, hidden state and location."""
    key = np.asarray(key, dtype=np.float64)
    if key.ndim != 1:
        raise ValueError(f"decode_key takes one key row, got shape {key.shape}")
    _check_width(key, cfg)
    if cfg.patch_bits is None:
        raise ValueError("a model with float patches has no integer keys to decode")
    p, k = cfg.patch_size, cfg.num_patches
    patches = key[: cfg.patch_vector_len].reshape(k, p, p)
    levels = 2**cfg.patch_bits - 1
    hidden = key[cfg.patch_vector_len: cfg.patch_vector_len + cfg.state_size]
    loc = key[-2:]
    centre = loc * (cfg.image_size - 1) / max(cfg.loc_grid - 1, 1)
    if np.all(loc == np.round(loc)):  # a real key: the same pixel as mbi.model.ram.grid_to_pixel
        centre = np.round(centre)
    widths = tuple(cfg.patch_size * cfg.glimpse_scale**i for i in range(k))
    return DecodedKey(patches=patches, intensity=patches / levels, hidden=hidden, loc=loc, centre_px=centre,
                      widths_px=widths)


def mean_key(keys: np.ndarray) -> np.ndarray:
    """Mean of key rows (``float64 [D]``): the centroid of a set of keys in key levels."""
    keys = np.asarray(keys)
    if keys.ndim != 2 or len(keys) == 0:
        raise ValueError(f"mean_key needs a non-empty [N, D] array, got shape {keys.shape}")
    return keys.astype(np.float64).mean(axis=0)


def subtree_rows(summary: TreeSummary, node: int) -> np.ndarray:
    """Table rows (ascending) of all the leaves under ``node`` of a k-means tree summary."""
    n = len(summary.node)
    if not 0 <= int(node) < n:
        raise ValueError(f"node must be between 0 and {n - 1}, got {node}")
    under = np.zeros(n, dtype=bool)
    under[int(node)] = True
    # Nodes are numbered breadth first, so a parent always precedes its children.
    for i in range(int(node) + 1, n):
        p = summary.parent[i]
        if p >= 0 and under[p]:
            under[i] = True
    leaves = [summary.leaf_rows[int(i)] for i in np.flatnonzero(under & summary.is_leaf)]
    return np.sort(np.concatenate(leaves)) if leaves else np.zeros(0, dtype=np.int64)


def node_centroid(keys: np.ndarray, summary: TreeSummary, node: int) -> np.ndarray:
    """Mean key of the rows under ``node`` (``keys`` are the rows the tree was built on)."""
    return mean_key(np.asarray(keys)[subtree_rows(summary, node)])


def central_keys(keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], count: int) -> np.ndarray:
    """Indices of the ``count`` keys nearest their mean under eq. (1) (ties: lowest index first).

    The mean is fractional, so this is eq. (1) with ``|q - k|`` on real values: the keys that
    best represent a node of the k-means tree.
    """
    keys = layout.check_keys(np.asarray(keys))
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    a, b, c = check_weights(weights)
    centre = mean_key(keys)
    dist = np.empty(len(keys))
    for start in range(0, len(keys), _CHUNK_ROWS):  # float64 differences of a block of rows at a time
        diff = np.abs(keys[start: start + _CHUNK_ROWS].astype(np.float64) - centre)
        dist[start: start + _CHUNK_ROWS] = sum(w * diff[:, cols].sum(axis=1)
                                               for w, cols in zip((a, b, c), layout.part_cols)) / (a + b + c)
    return np.argsort(dist, kind="stable")[:count]


def location_counts(keys: np.ndarray, cfg: RAMConfig) -> np.ndarray:
    """How many keys looked at each grid cell: ``int64 [G, G]`` indexed (row, col)."""
    keys = np.asarray(keys)
    _check_width(keys, cfg)
    g = cfg.loc_grid
    loc = keys[:, -2:].astype(np.int64)
    if len(loc) and (loc.min() < 0 or loc.max() >= g):
        raise ValueError(f"key locations must lie on the {g} x {g} grid")
    return np.bincount(loc[:, 0] * g + loc[:, 1], minlength=g * g).reshape(g, g).astype(np.int64)


__all__ = ["DecodedKey", "central_keys", "decode_key", "location_counts", "mean_key", "node_centroid", "subtree_rows"]
