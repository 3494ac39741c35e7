"""The retina's quantized patch codes of a whole batch, compiled: what lookup inference reads.

Lookup-only inference needs, at each glimpse, the integer levels
``model.retina.quantizer.codes(model.retina(x, loc))`` of every image. The torch retina
(:class:`mbi.model.ram.Retina`) pads the batch, gathers the patches, average-pools and
quantizes, one tensor operation after the other; for lookups that is most of the time that
is not search. :class:`GlimpseSensor` does the same in one compiled pass over the uint8
images, and gives *bit-identical* codes because it repeats the float32 arithmetic of the
torch path in the same order:

* a pixel is ``float32(p) / float32(255)`` (:func:`mbi.data.to_float`, taken from a
  256-entry table made by that very function);
* the pixel centre of a grid location is :func:`mbi.model.ram.grid_to_pixel`'s (the same float32
  arithmetic, :func:`grid_pixel_table`); pixels outside the image are 0 (the retina's padding);
* a pooled value is the float32 sum of its ``f x f`` pixels added row by row, divided
  by ``f * f`` (torch's CPU ``avg_pool2d``);
* the level is ``round((clamp(v, lo, hi) - lo) / (hi - lo) * (L - 1))`` in float32,
  ties to even (:meth:`mbi.model.quant.Quantizer.codes`).

``tests/test_sensor.py`` checks the identity on the real test digits at every location,
on random images and on images built to land exactly on rounding ties.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from mbi.config import PATCH_RANGE, RAMConfig
from mbi.data import to_float
from mbi.validate import check_int

if TYPE_CHECKING:  # a sensor is built from a loaded model, which brings torch; importing this module does not
    from mbi.model.ram import RAM


@njit(cache=True, nogil=True)
def _round_half_even(x: np.float32) -> np.int64:
    """``torch.round`` of a non-negative float32: nearest integer, ties to even."""
    r = np.floor(x)
    diff = x - r
    n = np.int64(r)
    if diff > np.float32(0.5) or (diff == np.float32(0.5) and n % 2 == 1):
        n += 1
    return n


@njit(cache=True, nogil=True)
def glimpse_codes_block(images: np.ndarray, loc: np.ndarray, pixel_of: np.ndarray, pixel_value: np.ndarray,
                        patch_size: int, scale: int, num_patches: int, lo: np.float32, hi: np.float32,
                        steps: np.float32, start: int, stop: int, out: np.ndarray) -> None:
    """Patch codes of images ``start:stop`` into ``out`` (``uint8 [B, num_patches * patch_size**2]``).

    ``images`` uint8 [B, H, W]; ``loc`` int64 [B, 2] grid locations; ``pixel_of`` int64 [G]
    the pixel centre of each grid index; ``pixel_value`` float32 [256] the value of each
    pixel level; ``lo``, ``hi``, ``steps`` the patch quantizer's range and ``2**bits - 1``.
    Patch ``k`` covers ``patch_size * scale**k`` pixels around the centre, pooled by ``scale**k``.
    """
    height, width = images.shape[1], images.shape[2]
    span = hi - lo
    for i in range(start, stop):
        cy, cx = pixel_of[loc[i, 0]], pixel_of[loc[i, 1]]
        col = 0
        factor = 1
        for _ in range(num_patches):
            size = patch_size * factor
            y0, x0 = cy - size // 2, cx - size // 2
            divisor = np.float32(factor * factor)
            for py in range(patch_size):
                for px in range(patch_size):
                    if factor == 1:
                        y, x = y0 + py, x0 + px
                        v = pixel_value[images[i, y, x]] if 0 <= y < height and 0 <= x < width else np.float32(0.0)
                    else:
                        s = np.float32(0.0)
                        for dy in range(factor):
                            y = y0 + py * factor + dy
                            for dx in range(factor):
                                x = x0 + px * factor + dx
                                if 0 <= y < height and 0 <= x < width:  # padding adds 0.0: no change
                                    s += pixel_value[images[i, y, x]]
                        v = s / divisor
                    v = min(max(v, lo), hi)
                    out[i, col] = _round_half_even((v - lo) / span * steps)
                    col += 1
            factor *= scale


def grid_pixel_table(grid: int, image_size: int) -> np.ndarray:
    """Pixel centre of each grid index (``int64 [grid]``): :func:`mbi.model.ram.grid_to_pixel` without torch, the
    same float32 arithmetic (``round(float32(i) * (size - 1) / (grid - 1))``, ties to even)."""
    cells = np.arange(grid, dtype=np.float32)
    return np.round(cells * np.float32(image_size - 1) / np.float32(grid - 1)).astype(np.int64)


class GlimpseSensor:
    """The patch codes of :meth:`mbi.model.ram.Retina.forward` + ``quantizer.codes``, compiled and batched.

    Built from a quantized :class:`mbi.model.ram.RAM` (its configuration and its patch quantizer's stored range)
    or from its :class:`mbi.config.RAMConfig` alone (the retina's range :data:`mbi.config.PATCH_RANGE`: no torch
    needed); :meth:`codes` equals ``model.retina.quantizer.codes(model.retina(images_to_tensor(images), loc))``
    exactly.
    """

    def __init__(self, model: RAM | RAMConfig) -> None:
        if isinstance(model, RAMConfig):
            cfg, (lo, hi), bits = model, PATCH_RANGE, model.patch_bits
        else:
            cfg, quantizer = model.cfg, model.retina.quantizer
            lo, hi, bits = quantizer.lo.item(), quantizer.hi.item(), quantizer.bits
        if bits is None:
            raise ValueError("the glimpse sensor needs a quantized retina (patch_bits), not a float one")
        self.patch_size, self.scale, self.num_patches = cfg.patch_size, cfg.glimpse_scale, cfg.num_patches
        self.image_size, self.grid = cfg.image_size, cfg.loc_grid
        self.patch_len = cfg.num_patches * cfg.patch_size**2
        self._pixel_of = grid_pixel_table(cfg.loc_grid, cfg.image_size)
        self._pixel_value = to_float(np.arange(256, dtype=np.uint8))
        self._lo, self._hi = np.float32(lo), np.float32(hi)
        self._steps = np.float32(2**bits - 1)

    def codes(self, images: np.ndarray, loc: np.ndarray, n_threads: int = 1) -> np.ndarray:
        """Quantized patch levels ``uint8 [B, P]`` of ``images`` (uint8 [B, H, W]) read at grid ``loc`` ([B, 2]).

        ``n_threads`` threads share the images (the kernel releases the GIL).
        """
        images = np.ascontiguousarray(images)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (self.image_size, self.image_size):
            raise ValueError(f"images must be uint8 [B, {self.image_size}, {self.image_size}], "
                             f"got {images.dtype} {images.shape}")
        loc = np.ascontiguousarray(loc, dtype=np.int64)
        if loc.shape != (len(images), 2) or (loc.size and (loc.min() < 0 or loc.max() >= self.grid)):
            raise ValueError(f"loc must be grid indices in 0..{self.grid - 1} of shape ({len(images)}, 2)")
        n_threads = check_int("n_threads", n_threads, 1)
        out = np.empty((len(images), self.patch_len), dtype=np.uint8)

        def run(start: int, stop: int) -> None:
            glimpse_codes_block(images, loc, self._pixel_of, self._pixel_value, self.patch_size, self.scale,
                                self.num_patches, self._lo, self._hi, self._steps, start, stop, out)

        bounds = np.linspace(0, len(images), max(1, min(n_threads, len(images))) + 1).astype(int)
        if len(bounds) <= 2:
            run(0, len(images))
        else:
            with ThreadPoolExecutor(len(bounds) - 1) as pool:
                list(pool.map(run, bounds[:-1].tolist(), bounds[1:].tolist()))
        return out
