"""A synthetic lookup table that mimics the structure of a distilled MBI table.

Used by the search benchmark and tests only, until a real table is available. A real
table holds one row per (image, glimpse step); its keys are
``[patch levels | hidden bits | location (row, col)]``. What matters for search:

* at the first step every row has the same hidden state ``h_0`` and the same start
  location, so one sixth of the table differs only in the patch part;
* later hidden states cluster by class and by the path the network took
  (prototype states with a few flipped bits), and the location follows the state;
* patches are noisy versions of a few typical patterns per cluster;
* identical keys are merged, and queries come from *other* images, so they are
  near, but rarely equal to, table rows.

The default layout is the quick CPU experiment of DESIGN.md: three 4x4 patches of 2-bit
levels (48 elements), 128 hidden bits, a 16x16 location grid.
"""

from __future__ import annotations

import numpy as np

from mbi.search.distance import KeyLayout

DEFAULT_LAYOUT = KeyLayout(patch_len=48, patch_levels=4, hidden_len=128, hidden_levels=2, loc_levels=16)


def _images(rng: np.random.Generator, n_images: int, layout: KeyLayout, steps: int,
            protos: dict[str, np.ndarray]) -> np.ndarray:
    """Keys ``[n_images * steps, D]`` of ``n_images`` random trajectories through the prototypes."""
    n_classes, _, n_modes = protos["loc"].shape[:3]
    cls = rng.integers(n_classes, size=n_images)
    mode = rng.integers(n_modes, size=(n_images, steps))
    rows = []
    for t in range(steps):
        m = mode[:, t]
        if t == 0:
            hidden = np.zeros((n_images, layout.hidden_len), dtype=np.int64)
            loc = np.full((n_images, 2), layout.loc_levels // 2, dtype=np.int64)
        else:
            flips = rng.random((n_images, layout.hidden_len)) < 0.05
            hidden = protos["hidden"][cls, t, m] ^ flips
            jitter = rng.integers(-1, 2, size=(n_images, 2))
            loc = np.clip(protos["loc"][cls, t, m] + jitter, 0, layout.loc_levels - 1)
        shape = (n_images, layout.patch_len)
        noise = rng.integers(-1, 2, size=shape) * (rng.random(shape) < 0.35)  # +-1 level on about 1/4
        patch = np.clip(protos["patch"][cls, t, m] + noise, 0, layout.patch_levels - 1)
        rows.append(np.concatenate([patch, hidden, loc], axis=1))
    return np.concatenate(rows, axis=0).astype(np.uint8)


def make_table(n_rows: int = 100_000, n_queries: int = 2_000, seed: int = 0, steps: int = 6,
               layout: KeyLayout = DEFAULT_LAYOUT, n_classes: int = 10, n_modes: int = 12
               ) -> tuple[np.ndarray, np.ndarray, KeyLayout]:
    """``(keys [~n_rows, D] uint8 with duplicates merged, queries [n_queries, D] uint8, layout)``.

    Queries are the keys of fresh images from the same process (a random step each).
    """
    rng = np.random.default_rng(seed)
    shape = (n_classes, steps, n_modes)
    protos = {
        "hidden": rng.random(shape + (layout.hidden_len,)) < 0.5,
        "loc": rng.integers(0, layout.loc_levels, size=shape + (2,)),
        "patch": rng.integers(0, layout.patch_levels, size=shape + (layout.patch_len,)),
    }
    keys = _images(rng, -(-n_rows // steps), layout, steps, protos)
    keys = np.unique(keys, axis=0)
    keys = keys[rng.permutation(len(keys))]  # no helpful order left from the generator
    fresh = _images(rng, n_queries, layout, steps, protos).reshape(steps, n_queries, -1)
    queries = fresh[rng.integers(steps, size=n_queries), np.arange(n_queries)]
    return keys, queries, layout
