"""Seconds per training epoch on the full 50k training split, batched retina vs a per-sample loop.

Both variants train the same RAM (default config) with the same loss on 2 CPU
threads in this one run. The batched retina runs a whole epoch; the per-sample
loop retina (what many RAM implementations do) is timed on the first
``--loop-batches`` batches, alternating batch by batch with the batched one
so that other load on the machine slows both alike, and scaled to an epoch. Usage: ``python -m benchmarks.bench_train_epoch [--loop-batches 40]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from mbi.config import RAMConfig
from mbi.data import load_mnist
from mbi.model.ram import RAM, Retina, grid_to_pixel
from mbi.model.predict import images_to_tensor
from mbi.model.train import loss_terms


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-batches", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_mnist()
    x, y = images_to_tensor(data.train_x), torch.from_numpy(data.train_y)
    n_batches = math.ceil(len(x) / args.batch_size)
    cfg = RAMConfig()
    models = {}
    for name in ("batched", "loop"):
        torch.manual_seed(0)
        models[name] = RAM(cfg)
    models["loop"].retina = LoopRetina(cfg)
    optims = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    spent = {"batched": [], "loop": []}

    def step(name: str, b: int) -> None:
        idx = order[b * args.batch_size: (b + 1) * args.batch_size]
        start = time.perf_counter()
        loss, _ = loss_terms(models[name], x[idx], y[idx], torch.Generator().manual_seed(b))
        optims[name].zero_grad()
        loss.backward()
        optims[name].step()
        spent[name].append(time.perf_counter() - start)

    # The two variants alternate batch by batch, so a busy machine slows both alike.
    for b in range(n_batches):
        step("batched", b)
        if b < args.loop_batches:
            step("loop", b)
    epoch_batched = sum(spent["batched"])
    ratio = sum(spent["loop"]) / sum(spent["batched"][: len(spent["loop"])])
    print(f"config: {cfg.num_glimpses} glimpses, {cfg.num_patches} x {cfg.patch_size}x{cfg.patch_size} patches, "
          f"batch {args.batch_size}, 2 threads, {len(x)} training images ({n_batches} batches)")
    print(f"batched retina : {epoch_batched:8.1f} s/epoch (the whole epoch, measured)")
    print(f"per-sample loop: {epoch_batched * ratio:8.1f} s/epoch (its first {len(spent['loop'])} batches, "
          f"interleaved with the batched ones, scaled to the epoch)")
    print(f"speed-up of the batched retina: {ratio:.1f}x")


if __name__ == "__main__":
    main()
