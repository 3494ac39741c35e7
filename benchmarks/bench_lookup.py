"""End-to-end lookup-only inference (images/s) vs the RAM's own batched torch forward pass.

Same model, same images, one run, 2 threads. Lookup inference is measured with
exact brute-force search and with the k-means tree (branching 4, leaf 32, one
leaf scanned), each over every row of its glimpse step. Usage:
``python -m benchmarks.bench_lookup [CHECKPOINT] [--images 1000]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from mbi.config import TreeConfig
from mbi.model.checkpoint import load_model
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import cached_table
from mbi.model.predict import predict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?", default="default")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = load_model(args.checkpoint)
    table = cached_table(args.checkpoint)
    data = load_mnist()
    x, y = data.val_x[: args.images], data.val_y[: args.images]
    weights = (1.0, 1.0, 1.0)
    with threadpool_limits(2):
        start = time.perf_counter()
        ram = predict(model, x)
        t_ram = time.perf_counter() - start
        brute = StepIndex(table, weights)
        start = time.perf_counter()
        tr_b = lookup_infer(model, table, x, index=brute)
        t_brute = time.perf_counter() - start
        start = time.perf_counter()
        tree = StepIndex(table, weights, "tree", tree=TreeConfig(branching=4, leaf_size=32))
        t_build = time.perf_counter() - start
        start = time.perf_counter()
        tr_t = lookup_infer(model, table, x, index=tree)
        t_tree = time.perf_counter() - start
    n = len(x)
    print(f"{n} validation images, table of {len(table)} rows ({table.num_glimpses} steps), 2 threads")
    print(f"RAM torch forward      : {n / t_ram:10.0f} images/s  (accuracy {100 * np.mean(ram == y):.2f}%)")
    print(f"lookup, brute force    : {n / t_brute:10.0f} images/s  (accuracy {100 * np.mean(tr_b.prediction == y):.2f}%, "
          f"{tr_b.comparisons.mean():.0f} comparisons/query)")
    print(f"lookup, k-means tree   : {n / t_tree:10.0f} images/s  (accuracy {100 * np.mean(tr_t.prediction == y):.2f}%, "
          f"{tr_t.comparisons.mean():.0f} comparisons/query; tree built in {t_build:.1f} s)")
    print(f"ratios: RAM / brute lookup = {t_brute / t_ram:.1f}x, RAM / tree lookup = {t_tree / t_ram:.1f}x, "
          f"tree speed-up over brute = {t_brute / t_tree:.1f}x")


if __name__ == "__main__":
    main()
