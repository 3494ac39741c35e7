"""Ceiling curve of lookup-only accuracy: 1-NN accuracy of the first glimpse's key, for other sensor settings.

The first glimpse's key is ``[patch codes at the start cell | h_0 = 0 | start cell]``: the hidden and location
parts are the same for every digit, so the first match is the training digit whose quantized first patch
vector is nearest in Manhattan distance, and no training of the network changes it. This script computes that
key with the product's own sensor (:class:`mbi.model.sensor.GlimpseSensor`, built from a ``RAMConfig`` with
the retina's fixed range, bit-identical to the torch retina) and the product's key assembly
(:func:`mbi.memory.lut.query_key`), for every training digit (the shipped table distils all 50,000) and the
first N validation digits, and searches with the engine's exact search (``build_searcher(..., "brute")``,
ties to the lowest row). Prints one line per setting: the key's patch elements and bits, and the 1-NN accuracy
(class of the matched training digit).

Usage: ``python docs/experiments/issue16/first_glimpse.py N SETTING [SETTING ...]`` with SETTING
``bits/size/patches[/scale[/grid]]`` (scale 2, grid 14 unless given), e.g. ``2/8/3`` (the shipped sensor) or
``2/28/1/1/15`` (the whole 28 x 28 image: grid 15 puts the start cell's pixel at 14, so a 28-px patch covers
rows and columns 0..27). A prefix ``deskew:`` first deskews every digit (train and validation; :func:`deskew`),
which is not what the product's sensor does: it asks what a sensor that normalizes the digit could reach.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np
from scipy import ndimage

from mbi.data import load_mnist
from mbi.memory.lut import query_key
from mbi.model.checkpoint import Checkpoint
from mbi.model.sensor import GlimpseSensor, grid_pixel_table
from mbi.search.distance import key_layout
from mbi.search.engine import build_searcher


def first_keys(sensor: GlimpseSensor, cfg, images: np.ndarray) -> np.ndarray:
    """``uint8 [B, D]``: the first glimpse's key of every image (patch at the start cell, h_0 = 0, start cell)."""
    loc = np.full((len(images), 2), cfg.start_cell, dtype=np.int64)
    patch = sensor.codes(images, loc)
    return query_key(patch, np.zeros((len(images), cfg.state_size), np.uint8), loc)


def deskew(images: np.ndarray) -> np.ndarray:
    """``uint8 [B, 28, 28]``: each digit sheared so its principal axis is vertical, its centre of mass moved to the
    image centre (the classic moment deskew of MNIST k-NN: shear ``x += alpha * (y - mean_y)``, ``alpha =
    cov(x, y) / var(y)``, bilinear)."""
    rows, cols = np.mgrid[: images.shape[1], : images.shape[2]].astype(np.float64)
    centre = np.array(images.shape[1:], dtype=np.float64) / 2.0
    out = np.empty_like(images)
    for i, image in enumerate(images.astype(np.float64)):
        total = image.sum()
        mean_r, mean_c = (rows * image).sum() / total, (cols * image).sum() / total
        var_r = ((rows - mean_r) ** 2 * image).sum() / total
        alpha = ((rows - mean_r) * (cols - mean_c) * image).sum() / total / var_r
        shear = np.array([[1.0, 0.0], [alpha, 1.0]])
        moved = ndimage.affine_transform(image, shear, offset=np.array([mean_r, mean_c]) - shear @ centre, order=1)
        out[i] = np.clip(np.round(moved), 0, 255).astype(np.uint8)
    return out


def main() -> None:
    n = int(sys.argv[1])
    base = Checkpoint.of("default").model.cfg
    data = load_mnist()
    vx, vy = data.val_x[:n], data.val_y[:n]
    print("setting (bits/size/patches/scale/grid) | start pixel | patch elements | patch key bits | "
          "full key bits | 1-NN acc | CPU s", flush=True)
    skewed = {}
    for setting in sys.argv[2:]:
        straighten = setting.startswith("deskew:")
        setting = setting.removeprefix("deskew:")
        if straighten and not skewed:
            skewed = {"train": deskew(data.train_x), "val": deskew(vx)}
        train_x, val_x = (skewed["train"], skewed["val"]) if straighten else (data.train_x, vx)
        parts = [int(v) for v in setting.split("/")] + [base.glimpse_scale, base.loc_grid][len(setting.split("/")) - 3:]
        bits, size, patches, scale, grid = parts[:5]
        cfg = dataclasses.replace(base, patch_bits=bits, patch_size=size, num_patches=patches,
                                  glimpse_scale=scale, loc_grid=grid)
        start = time.process_time()
        sensor = GlimpseSensor(cfg)
        layout = key_layout(cfg)
        searcher = build_searcher(first_keys(sensor, cfg, train_x), layout, (1.0, 1.0, 1.0), "brute",
                                  n_threads=1)
        match = searcher.query(first_keys(sensor, cfg, val_x)).index
        acc = float(np.mean(data.train_y[match] == vy))
        patch_bits = cfg.patch_vector_len * bits
        key_bits = patch_bits + cfg.state_size * cfg.hidden_bits + 2 * int(np.ceil(np.log2(grid)))
        pixel = int(grid_pixel_table(grid, cfg.image_size)[cfg.start_cell])
        print(f"{'deskew:' if straighten else ''}{bits}/{size}/{patches}/{scale}/{grid} | {pixel} | {cfg.patch_vector_len} | {patch_bits} | "
              f"{key_bits} | {acc:.4f} | {time.process_time() - start:.0f}", flush=True)


if __name__ == "__main__":
    main()
