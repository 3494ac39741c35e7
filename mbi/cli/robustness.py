"""``python -m mbi robustness [CHECKPOINT]``: the RAM, lookup-only and mixed MBI on perturbed test digits."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from mbi.cli.lookup import parse_floats
from mbi.cli.options import add_lookup_options, checkpoint_of, images_of, table_of, weights_of
from mbi.data import dataset_info
from mbi.inference.lookup import StepIndex
from mbi.inference.robustness import STANDARD, group_means, parse_perturbation, robustness_rows
from mbi.store import atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``robustness`` command."""
    p = subparsers.add_parser("robustness", help="RAM, lookup-only and mixed MBI on shifted and noisy digits")
    add_lookup_options(p, splits=("test", "val"), tree=False)
    p.add_argument("--threshold", default="chosen",
                   help="mixed-MBI distance threshold, or 'chosen' (the checkpoint's lookup.json)")
    p.add_argument("--perturb", default=",".join(x.name for x in STANDARD),
                   help="comma-separated perturbations: clean, shift-up|down|left|right-PIXELS, noise-SIGMA[-seedN] "
                        "(default: clean, 1 and 2 px in 4 directions, noise 0.1 and 0.2 with seed 0)")
    p.add_argument("--figure", type=Path, help="also write the figure as an HTML file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Perturb, look up, print a table (or JSON) and optionally write the figure."""
    from mbi.plots.robustness import robustness_bars

    perturbations = [parse_perturbation(t) for t in args.perturb.split(",") if t.strip()]
    if not perturbations:
        raise ValueError("--perturb names no perturbation")
    ckpt = checkpoint_of(args)
    weights = weights_of(args, ckpt)
    if args.threshold == "chosen":
        if ckpt.lookup.threshold is None:
            raise ValueError(f"{ckpt.folder}/lookup.json has no chosen threshold; pass --threshold T or choose one "
                             "on validation with `lookup --split val --thresholds auto --min-accuracy A --record`")
        threshold = ckpt.lookup.threshold
    else:
        threshold = parse_floats(args.threshold)[0] if args.threshold.strip() else float("nan")
    x, y = images_of(args, ckpt)
    model, table = ckpt.model, table_of(args, ckpt)
    bar = tqdm(total=len(perturbations), desc="perturbations", unit="set", disable=args.json)
    rows = robustness_rows(model, table, x, y, threshold, StepIndex(table, weights), perturbations,
                           progress=lambda i, p: bar.update(i - bar.n))
    bar.update(len(perturbations) - bar.n)
    bar.close()
    res = {"images": int(len(y)), "dataset": ckpt.dataset, "split": args.split, "weights": [float(w) for w in weights], "threshold": threshold,
           "rows": [asdict(r) for r in rows], "groups": group_means(rows)}
    if args.figure:
        atomic_write_text(args.figure, robustness_bars(res["rows"], res["groups"]).to_html(include_plotlyjs=True))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['images']} {dataset_info(ckpt.dataset).title} {args.split} images, weights {list(weights)}, "
          f"mixed threshold {threshold:.4g}")
    print(f"  {'perturbation':18s} {'RAM':>8s} {'lookup':>8s} {'mixed':>8s} {'by lookup':>10s} {'lookup part':>12s}")
    for r in rows:
        part = "-" if r.lookup_part_accuracy is None else f"{100 * r.lookup_part_accuracy:.2f}%"
        print(f"  {r.perturbation:18s} {100 * r.ram_accuracy:7.2f}% {100 * r.lookup_accuracy:7.2f}% "
              f"{100 * r.mixed_accuracy:7.2f}% {100 * r.lookup_share:9.1f}% {part:>12s}")
    print("  mean per group:")
    for g in res["groups"]:
        part = "-" if g["lookup_part_accuracy"] is None else f"{100 * g['lookup_part_accuracy']:.2f}%"
        print(f"  {g['group']:18s} {100 * g['ram_accuracy']:7.2f}% {100 * g['lookup_accuracy']:7.2f}% "
              f"{100 * g['mixed_accuracy']:7.2f}% {100 * g['lookup_share']:9.1f}% {part:>12s}")
    if args.figure:
        print(f"  wrote {args.figure}")
    return 0
