"""``python -m mbi lookup [CHECKPOINT]``: lookup-only and mixed MBI accuracy on a split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbi.checkpoint import load_model, model_hash, resolve_checkpoint
from mbi.data import load_mnist
from mbi.infer import evaluate_lookup
from mbi.lut import cached_table, load_table
from mbi.store import read_json


def parse_floats(text: str) -> list[float]:
    """Comma-separated numbers, with an error that shows the bad item."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from exc


def lookup_settings(checkpoint: str | Path | None) -> dict:
    """The checkpoint's chosen lookup settings (``lookup.json``: weights, threshold), or {}."""
    path = resolve_checkpoint(checkpoint) / "lookup.json"
    return read_json(path) if path.is_file() else {}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``lookup`` command."""
    p = subparsers.add_parser("lookup", help="lookup-only and mixed MBI accuracy of a table on a split")
    p.add_argument("checkpoint", nargs="?", default="default", help="run folder or 'default'")
    p.add_argument("--table", type=Path, help="table .npz (default: the full table, cached or distilled now)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--images", type=int, help="use only the first N images of the split")
    p.add_argument("--weights", default="chosen",
                   help="a,b,c of eq. (1), or 'chosen' (the checkpoint's lookup.json, else 1,1,1)")
    p.add_argument("--search", choices=("brute", "tree"), default="brute")
    p.add_argument("--branching", type=int, default=4)
    p.add_argument("--leaf-size", type=int, default=32)
    p.add_argument("--checks", type=int, default=1)
    p.add_argument("--thresholds", default="", help="mixed-MBI thresholds, comma-separated")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print."""
    folder = resolve_checkpoint(args.checkpoint)
    model = load_model(folder)
    table = load_table(args.table, model_hash(folder)) if args.table else cached_table(folder)
    settings = lookup_settings(folder)
    weights = settings.get("weights", [1.0, 1.0, 1.0]) if args.weights == "chosen" else parse_floats(args.weights)
    if len(weights) != 3:
        raise ValueError(f"--weights needs three numbers a,b,c, got {weights}")
    x, y = load_mnist().split(args.split)
    if args.images:
        x, y = x[: args.images], y[: args.images]
    tree = {"branching": args.branching, "leaf_size": args.leaf_size, "checks": args.checks}
    res = evaluate_lookup(model, table, x, y, weights, args.search, parse_floats(args.thresholds),
                          tree if args.search == "tree" else None)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['images']} {args.split} images, table of {res['table_rows']} rows, weights {weights}, "
          f"{args.search} search ({res['comparisons_per_query']:.0f} comparisons per query)")
    print(f"  RAM (quantized)      {100 * res['ram_accuracy']:.2f}%")
    print(f"  lookup-only MBI      {100 * res['lookup_accuracy']:.2f}%  (agrees with RAM on "
          f"{100 * res['lookup_agrees_with_ram']:.2f}%)")
    for p in res["mixed"]:
        print(f"  mixed, threshold {p['threshold']:6.3f}: {100 * p['accuracy']:.2f}% with "
              f"{100 * p['lookup_share']:.1f}% of images by lookup")
    return 0
