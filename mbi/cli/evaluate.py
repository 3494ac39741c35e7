"""``python -m mbi evaluate CHECKPOINT``: test accuracy, quantized and with quantizers bypassed."""

from __future__ import annotations

import argparse
import json

from pathlib import Path

import pandas as pd

from mbi.cli.options import add_checkpoint_option, checkpoint_of, data_of
from mbi.data import Dataset, require_dataset
from mbi.model.checkpoint import Checkpoint
from mbi.store import artifacts_root, atomic_write_json, atomic_write_text
from mbi.inference.tablesize import table_size_curve
from mbi.model.predict import accuracy


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    p = subparsers.add_parser("evaluate", help="accuracy of a checkpoint on a split (deterministic pass)")
    add_checkpoint_option(p)
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--lut-sizes", help="Fig. 4(a): comma-separated row budgets ('all' = whole training split); "
                                       "BO on validation, accuracy on --split")
    p.add_argument("--bo-trials", type=int, default=15, help="BO trials per table size (with --lut-sizes)")
    p.add_argument("--val-images", type=int, default=2000, help="validation images for BO (with --lut-sizes)")
    p.add_argument("--storage", help="Optuna storage for the BO studies (with --lut-sizes)")
    p.add_argument("--train-images", type=int, help="distill from the first N training images only (quick runs)")
    p.add_argument("--out", type=Path, help="write the --lut-sizes table as .csv and .json")
    p.add_argument("--record", action="store_true",
                   help="also store the test accuracies in the checkpoint's metrics.json (for shipping a model)")
    p.set_defaults(func=run)


def evaluate_checkpoint(checkpoint: str | Checkpoint, data: Dataset, split: str = "test") -> dict:
    """Deterministic accuracy (location = policy mean) with and without the quantizers on ``data``'s ``split``
    (``data`` must be the checkpoint's own dataset; another is refused)."""
    ckpt = Checkpoint.of(checkpoint)
    require_dataset(f"model {ckpt.folder}", ckpt.dataset, data.name)
    model = ckpt.model
    x, y = data.split(split)
    quantized = accuracy(model, x, y)
    with model.quantizers_bypassed():
        bypassed = accuracy(model, x, y)
    ram = ckpt.config.ram
    return {
        "checkpoint": str(ckpt.folder), "dataset": data.name, "split": split, "images": int(len(y)),
        "accuracy_quantized": quantized, "accuracy_quantizers_bypassed": bypassed,
        "patch_bits": ram.patch_bits, "hidden_bits": ram.hidden_bits,
    }


def parse_sizes(text: str) -> list[int | None]:
    """'1000,10000,all' -> [1000, 10000, None], with a clear error for anything else."""
    sizes: list[int | None] = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == "all":
            sizes.append(None)
        elif item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        else:
            raise ValueError(f"--lut-sizes takes positive row counts or 'all', got {item!r}")
    return sizes


def run_lut_sizes(args: argparse.Namespace) -> int:
    """Fig. 4(a): unweighted vs BO-weighted lookup accuracy per table size."""
    ckpt = checkpoint_of(args)
    data = data_of(args, ckpt)
    val = (data.val_x[: args.val_images], data.val_y[: args.val_images])
    train_x = data.train_x[: args.train_images] if args.train_images else data.train_x
    points = table_size_curve(ckpt.model, ckpt.hash, train_x, val, data.split(args.split),
                              parse_sizes(args.lut_sizes), args.bo_trials, storage=args.storage,
                              default_journal=artifacts_root() / "bo" / "bo.journal", progress=print)
    table = pd.DataFrame([p.to_dict() for p in points])
    print(table.to_string(index=False))
    if args.out:
        atomic_write_text(args.out.with_suffix(".csv"), table.to_csv(index=False))
        atomic_write_text(args.out.with_suffix(".json"), table.to_json(orient="records", indent=2))
    return 0


def run(args: argparse.Namespace) -> int:
    """Print the evaluation."""
    if args.lut_sizes:
        return run_lut_sizes(args)
    ckpt = checkpoint_of(args)
    res = evaluate_checkpoint(ckpt, data_of(args, ckpt), args.split)
    if args.record:
        metrics = dict(ckpt.metrics)
        metrics[f"{args.split}_acc"] = res["accuracy_quantized"]
        metrics[f"{args.split}_acc_quantizers_bypassed"] = res["accuracy_quantizers_bypassed"]
        atomic_write_json(ckpt.folder / "metrics.json", metrics)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{res['checkpoint']} on {res['dataset']} {res['split']} ({res['images']} images), one deterministic pass:")
        print(f"  quantized (patch {res['patch_bits']} bit, hidden {res['hidden_bits']} bit): "
              f"{100 * res['accuracy_quantized']:.2f}%")
        print(f"  same weights, quantizers bypassed:             {100 * res['accuracy_quantizers_bypassed']:.2f}%")
    return 0
