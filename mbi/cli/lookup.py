"""``python -m mbi lookup [CHECKPOINT]``: lookup-only and mixed MBI accuracy on a split."""

from __future__ import annotations

import argparse
import dataclasses
import json

from mbi.cli.options import (add_lookup_options, add_perturb_option, checkpoint_of, images_of, parse_floats, table_of,
                              tree_of, weights_of)
from mbi.data import dataset_info
from mbi.inference.lookup import evaluate_lookup
from mbi.inference.mixed import MixedPoint, choose_threshold
from mbi.model.checkpoint import THRESHOLD_RULE, LookupSettings, SplitRecord


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``lookup`` command."""
    p = subparsers.add_parser("lookup", help="lookup-only and mixed MBI accuracy of a table on a split")
    add_lookup_options(p)
    add_perturb_option(p)
    p.add_argument("--search", choices=("brute", "tree"), default="brute")
    p.add_argument("--eps", type=float, default=0.0,
                   help="with --search brute: > 0 makes the pruned search (1 + eps)-approximate (an answer at most "
                        "1 + eps times the nearest distance; faster); 0 = exact (default). `python -m "
                        "benchmarks.bench_engine` chooses it on validation (0.35 on the shipped model)")
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
    ckpt = checkpoint_of(args)
    settings = ckpt.lookup
    weights = weights_of(args, ckpt)
    tree = tree_of(args) if args.search == "tree" else None
    if args.thresholds in ("auto", "chosen"):
        if args.thresholds == "chosen" and settings.threshold is None:
            raise ValueError(f"{ckpt.folder}/lookup.json has no chosen threshold; choose one on validation with "
                             "`lookup --split val --thresholds auto --min-accuracy A --record`")
        thresholds = "auto" if args.thresholds == "auto" else [settings.threshold]
    else:
        thresholds = parse_floats(args.thresholds)
    table = table_of(args, ckpt)
    x, y = images_of(args, ckpt)
    x = args.perturb.apply(x)
    if args.eps and args.search != "brute":
        raise ValueError("--eps applies to --search brute (the pruned search) only")
    res = evaluate_lookup(ckpt.model, table, x, y, weights, args.search, thresholds, tree, eps=args.eps)
    chosen = None
    if args.min_accuracy is not None:
        if args.split != "val":
            raise ValueError("choose thresholds on validation data only: use --split val with --min-accuracy")
        chosen = choose_threshold([MixedPoint(**p) for p in res["mixed"]], args.min_accuracy)
        res["chosen"] = None if chosen is None else vars(chosen)
    if args.record:
        ckpt.save_lookup(recorded_settings(settings, weights, args.split, res, chosen))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['images']} {dataset_info(ckpt.dataset).title} {args.split} images, table of {res['table_rows']} rows, "
          f"weights {list(weights)}, "
          f"{args.search} search{f' (1 + {args.eps:g})-approximate' if args.eps else ''} "
          f"({res['comparisons_per_query']:.0f} comparisons per query)")
    print(f"  RAM (quantized)      {100 * res['ram_accuracy']:.2f}%  ({res['images'] / res['ram_seconds']:,.0f} "
          f"images/s batched forward, {res['threads']} threads)")
    print(f"  lookup-only MBI      {100 * res['lookup_accuracy']:.2f}%  (agrees with RAM on "
          f"{100 * res['lookup_agrees_with_ram']:.2f}%; {res['images'] / res['lookup_seconds']:,.0f} images/s, "
          f"{res['ram_seconds'] / res['lookup_seconds']:.2f}x the RAM)")
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


def recorded_settings(settings: LookupSettings, weights: tuple[float, float, float], split: str, res: dict,
                      chosen: MixedPoint | None) -> LookupSettings:
    """``settings`` updated with an evaluation: the weights; the threshold chosen on validation; the
    accuracies measured on ``split`` (with the mixed point at the recorded threshold, if the curve has it)."""
    threshold, rule = (chosen.threshold, THRESHOLD_RULE) if chosen is not None else (settings.threshold,
                                                                                     settings.threshold_rule)
    match = [p for p in res["mixed"] if threshold is not None and p["threshold"] == threshold]
    record = SplitRecord(images=res["images"], ram_accuracy=res["ram_accuracy"],
                         lookup_accuracy=res["lookup_accuracy"],
                         mixed_accuracy=match[0]["accuracy"] if match else settings.split(split).mixed_accuracy,
                         mixed_lookup_share=(match[0]["lookup_share"] if match
                                             else settings.split(split).mixed_lookup_share))
    return dataclasses.replace(settings, weights=tuple(float(w) for w in weights), threshold=threshold,
                               threshold_rule=rule, table_rows=res["table_rows"], table_mb=res["table_mb"],
                               splits={**settings.splits, split: record})
