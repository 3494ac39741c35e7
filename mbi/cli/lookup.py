"""``python -m mbi lookup [CHECKPOINT]``: lookup-only and mixed MBI accuracy on a split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbi.cli.options import CHECKPOINT_HELP, add_dataset_flags, data_from_args, table_from_args
from mbi.model.checkpoint import load_model, lookup_settings, resolve_checkpoint
from mbi.inference.lookup import MixedPoint, choose_threshold, evaluate_lookup
from mbi.store import atomic_write_json


def parse_floats(text: str) -> list[float]:
    """Comma-separated numbers, with an error that shows the bad item."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from exc


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``lookup`` command."""
    p = subparsers.add_parser("lookup", help="lookup-only and mixed MBI accuracy of a table on a split")
    p.add_argument("checkpoint", nargs="?", default="default", help=CHECKPOINT_HELP)
    add_dataset_flags(p)
    p.add_argument("--table", type=Path, help="table .npz (default: the full table, cached or distilled now)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--images", type=int, help="use only the first N images of the split")
    p.add_argument("--weights", default="chosen",
                   help="a,b,c of eq. (1), or 'chosen' (the checkpoint's lookup.json, else 1,1,1)")
    p.add_argument("--search", choices=("brute", "tree"), default="brute")
    p.add_argument("--branching", type=int, default=4)
    p.add_argument("--leaf-size", type=int, default=32)
    p.add_argument("--checks", type=int, default=1)
    p.add_argument("--thresholds", default="",
                   help="mixed-MBI thresholds: comma-separated numbers, 'auto' (quantiles of the matched distances) "
                        "or 'chosen' (the checkpoint's lookup.json)")
    p.add_argument("--min-accuracy", type=float,
                   help="with --split val: choose the threshold with the largest lookup share whose mixed accuracy "
                        "is at least this (e.g. 0.97)")
    p.add_argument("--record", action="store_true",
                   help="store the weights (and the chosen threshold, or the test accuracies with --split test) "
                        "in the checkpoint's lookup.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print."""
    folder = resolve_checkpoint(args.checkpoint)
    data = data_from_args(args, folder)
    model = load_model(folder)
    table = table_from_args(args.table, folder)
    settings = lookup_settings(folder)
    weights = settings.get("weights", [1.0, 1.0, 1.0]) if args.weights == "chosen" else parse_floats(args.weights)
    if len(weights) != 3:
        raise ValueError(f"--weights needs three numbers a,b,c, got {weights}")
    x, y = data.split(args.split)
    if args.images:
        x, y = x[: args.images], y[: args.images]
    tree = {"branching": args.branching, "leaf_size": args.leaf_size, "checks": args.checks}
    if args.thresholds in ("auto", "chosen"):
        if args.thresholds == "chosen" and "threshold" not in settings:
            raise ValueError(f"{folder}/lookup.json has no chosen threshold; choose one on validation with "
                             "`lookup --split val --thresholds auto --min-accuracy A --record`")
        thresholds = "auto" if args.thresholds == "auto" else [float(settings["threshold"])]
    else:
        thresholds = parse_floats(args.thresholds)
    res = evaluate_lookup(model, table, x, y, weights, args.search, thresholds,
                          tree if args.search == "tree" else None)
    chosen = None
    if args.min_accuracy is not None:
        if args.split != "val":
            raise ValueError("choose thresholds on validation data only: use --split val with --min-accuracy")
        chosen = choose_threshold([MixedPoint(**p) for p in res["mixed"]], args.min_accuracy)
        res["chosen"] = None if chosen is None else vars(chosen)
    if args.record:
        record_settings(folder, settings, weights, args.split, res, chosen)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['images']} {data.info.title} {args.split} images, table of {res['table_rows']} rows, weights {weights}, "
          f"{args.search} search ({res['comparisons_per_query']:.0f} comparisons per query)")
    print(f"  RAM (quantized)      {100 * res['ram_accuracy']:.2f}%")
    print(f"  lookup-only MBI      {100 * res['lookup_accuracy']:.2f}%  (agrees with RAM on "
          f"{100 * res['lookup_agrees_with_ram']:.2f}%)")
    if "tree_vs_brute_force" in res:
        q = res["tree_vs_brute_force"]
        print(f"  tree vs brute force on the same queries: {100 * q['exact_share']:.2f}% at the brute-force "
              f"distance, {q['fewer_comparisons']:.1f}x fewer comparisons, {q['mean_levels']:.1f} levels, "
              f"max normalized error {q['max_normalized_error']:.3f}")
    shown = res["mixed"] if len(res["mixed"]) <= 12 else res["mixed"][:: max(1, len(res["mixed"]) // 12)]
    for p in shown:
        print(f"  mixed, threshold {p['threshold']:7.3f}: {100 * p['accuracy']:.2f}% with "
              f"{100 * p['lookup_share']:.1f}% of images by lookup")
    if args.min_accuracy is not None:
        print("  no threshold reaches that accuracy" if chosen is None else
              f"  chosen threshold {chosen.threshold:.3f}: {100 * chosen.accuracy:.2f}% with "
              f"{100 * chosen.lookup_share:.1f}% by lookup (validation)")
    return 0


def record_settings(folder: Path, settings: dict, weights: list[float], split: str, res: dict,
                    chosen: MixedPoint | None) -> None:
    """Update ``lookup.json``: weights; the threshold chosen on validation; measured accuracies per split."""
    out = dict(settings)
    out["weights"] = [float(w) for w in weights]
    if chosen is not None:
        out["threshold"] = chosen.threshold
        out["threshold_rule"] = "largest lookup share with validation mixed accuracy >= min_accuracy"
    out[f"{split}_ram_accuracy"] = res["ram_accuracy"]
    out[f"{split}_lookup_accuracy"] = res["lookup_accuracy"]
    out[f"{split}_images"] = res["images"]
    out["table_rows"] = res["table_rows"]
    out["table_mb"] = res["table_mb"]
    if "threshold" in out:
        match = [p for p in res["mixed"] if p["threshold"] == out["threshold"]]
        if match:
            out[f"{split}_mixed_accuracy"] = match[0]["accuracy"]
            out[f"{split}_mixed_lookup_share"] = match[0]["lookup_share"]
    atomic_write_json(folder / "lookup.json", out)
