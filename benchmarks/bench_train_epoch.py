"""Seconds per training epoch on the full 50k training split, batched retina vs a per-sample loop.

Both variants train the same RAM (default config) with the same loss on 2 CPU
threads in this one run. The batched retina runs a whole epoch; the per-sample
loop retina (what many RAM implementations do) is timed on the first
``--loop-batches`` batches and extrapolated to an epoch, which is stated in
the output. Usage: ``python -m benchmarks.bench_train_epoch [--loop-batches 40]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from mbi.config import RAMConfig
from mbi.data import load_mnist
from mbi.ram import RAM, Retina, grid_to_pixel
from mbi.train import images_to_tensor, loss_terms


class LoopRetina(Retina):
    """The straightforward retina: one Python iteration per image and per patch."""

    def patches(self, x: torch.Tensor, loc: torch.Tensor) -> list[torch.Tensor]:
        padded = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        centre = grid_to_pixel(loc, self.grid, self.image_size) + self.pad
        out = []
        for k in range(self.num_patches):
            factor = self.scale**k
            width = self.patch_size * factor
            rows = []
            for b in range(x.shape[0]):
                r0 = int(centre[b, 0]) - width // 2
                c0 = int(centre[b, 1]) - width // 2
                patch = padded[b, r0: r0 + width, c0: c0 + width]
                if factor > 1:
                    patch = F.avg_pool2d(patch[None, None], factor)[0, 0]
                rows.append(patch)
            out.append(torch.stack(rows))
        return out


def time_batches(model: RAM, x: torch.Tensor, y: torch.Tensor, batch: int, max_batches: int | None) -> tuple[float, int]:
    """Train ``model`` over batches of (x, y); return seconds and batches done."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(x), generator=gen)
    n_batches = math.ceil(len(x) / batch) if max_batches is None else max_batches
    start = time.perf_counter()
    for b in range(n_batches):
        idx = order[b * batch: (b + 1) * batch]
        loss, _ = loss_terms(model, x[idx], y[idx], gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start, n_batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist()
    x, y = images_to_tensor(data.train_x), torch.from_numpy(data.train_y)
    per_epoch = math.ceil(len(x) / args.batch_size)
    cfg = RAMConfig()

    torch.manual_seed(0)
    batched = RAM(cfg)
    t_batched, _ = time_batches(batched, x, y, args.batch_size, None)

    torch.manual_seed(0)
    looped = RAM(cfg)
    looped.retina = LoopRetina(cfg)
    t_loop, done = time_batches(looped, x, y, args.batch_size, args.loop_batches)
    t_loop_epoch = t_loop / done * per_epoch

    print(f"config: {cfg.num_glimpses} glimpses, {cfg.num_patches} x {cfg.patch_size}x{cfg.patch_size} patches, "
          f"batch {args.batch_size}, 2 threads, {len(x)} training images ({per_epoch} batches)")
    print(f"batched retina : {t_batched:8.1f} s/epoch (measured over the whole epoch)")
    print(f"per-sample loop: {t_loop_epoch:8.1f} s/epoch (extrapolated from {done} batches, {t_loop:.1f} s)")
    print(f"speed-up of the batched retina: {t_loop_epoch / t_batched:.1f}x")


if __name__ == "__main__":
    main()
