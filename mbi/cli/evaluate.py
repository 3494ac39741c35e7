"""``python -m mbi evaluate CHECKPOINT``: test accuracy, quantized and with quantizers bypassed."""

from __future__ import annotations

import argparse
import json

from mbi.checkpoint import load_config, load_metrics, load_model, resolve_checkpoint
from mbi.data import load_mnist
from mbi.store import atomic_write_json
from mbi.train import accuracy


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` command."""
    p = subparsers.add_parser("evaluate", help="accuracy of a checkpoint on a split (deterministic pass)")
    p.add_argument("checkpoint", nargs="?", default="default", help="run folder or 'default' (shipped model)")
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--record", action="store_true",
                   help="also store the test accuracies in the checkpoint's metrics.json (for shipping a model)")
    p.set_defaults(func=run)


def evaluate_checkpoint(checkpoint: str, split: str = "test") -> dict:
    """Deterministic accuracy (location = policy mean) with and without the quantizers."""
    model = load_model(checkpoint)
    x, y = load_mnist().split(split)
    quantized = accuracy(model, x, y)
    with model.quantizers_bypassed():
        bypassed = accuracy(model, x, y)
    cfg = load_config(checkpoint)
    return {
        "checkpoint": str(resolve_checkpoint(checkpoint)), "split": split, "images": int(len(y)),
        "accuracy_quantized": quantized, "accuracy_quantizers_bypassed": bypassed,
        "patch_bits": cfg.ram.patch_bits, "hidden_bits": cfg.ram.hidden_bits,
    }


def run(args: argparse.Namespace) -> int:
    """Print the evaluation."""
    res = evaluate_checkpoint(args.checkpoint, args.split)
    if args.record:
        folder = resolve_checkpoint(args.checkpoint)
        metrics = load_metrics(folder)
        metrics[f"{args.split}_acc"] = res["accuracy_quantized"]
        metrics[f"{args.split}_acc_quantizers_bypassed"] = res["accuracy_quantizers_bypassed"]
        atomic_write_json(folder / "metrics.json", metrics)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{res['checkpoint']} on {res['split']} ({res['images']} images), one deterministic pass:")
        print(f"  quantized (patch {res['patch_bits']} bit, hidden {res['hidden_bits']} bit): "
              f"{100 * res['accuracy_quantized']:.2f}%")
        print(f"  same weights, quantizers bypassed:             {100 * res['accuracy_quantizers_bypassed']:.2f}%")
    return 0
