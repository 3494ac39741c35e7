"""``python -m mbi recipes [CHECKPOINT]``: table recipes (shifted replays) against their size, on clean and shifted digits."""

from __future__ import annotations

import argparse
import dataclasses
import shlex

from mbi.cli.options import add_checkpoint_option, add_perturb_option, checkpoint_of, weights_of
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex
from mbi.inference.robustness import perturbed_images_id, robustness_rows
from mbi.inference.tablesize import recipe_point, write_recipe_tradeoff
from mbi.memory.lut import cached_table
from mbi.memory.recipe import SHIFT_CHOICES
from mbi.runs.tracecache import cached_trace

SHIFTED = ",".join(f"shift-{d}-{k}" for k in (1, 2) for d in ("up", "down", "left", "right"))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``recipes`` command."""
    p = subparsers.add_parser("recipes", help="table size against lookup accuracy on clean and shifted digits, "
                                              "per table recipe (shifted replays)")
    add_checkpoint_option(p)
    p.add_argument("--shifts", default="none,1px,2px",
                   help=f"comma-separated recipes to compare, of {sorted(SHIFT_CHOICES)} (default none,1px,2px; "
                        "each full table is distilled on first use and cached)")
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--images", type=int, default=1000, help="the first N images of the split (default 1000)")
    p.add_argument("--weights", default="chosen", help="a,b,c of eq. (1), or 'chosen' (the checkpoint's lookup.json)")
    add_perturb_option(p, many=True, default="clean," + SHIFTED,
                       default_help="clean and shifts of 1 and 2 px in 4 directions")
    p.add_argument("--record", action="store_true",
                   help="write the comparison to the checkpoint's recipes.json (the Table size page shows it)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure each recipe's table on the perturbed images, print, optionally record."""
    recipes = [r.strip() for r in args.shifts.split(",") if r.strip()]
    unknown = sorted(set(recipes) - set(SHIFT_CHOICES))
    if not recipes or unknown:
        raise ValueError(f"--shifts must name recipes of {sorted(SHIFT_CHOICES)}, got {args.shifts!r}")
    if args.images is not None and args.images < 1:
        raise ValueError(f"--images must be >= 1, got {args.images}")
    perturbations = list(args.perturb)
    ckpt = checkpoint_of(args)
    weights = weights_of(args, ckpt)
    x, y = load_mnist().split(args.split)
    x, y = x[: args.images], y[: args.images]
    base = f"{args.split}:{len(y)}"
    points = []
    for shifts in recipes:
        table = cached_table(ckpt, recipe=dataclasses.replace(ckpt.lookup.table, shifts=shifts))
        index = StepIndex(table, weights)
        rows = robustness_rows(ckpt.model, table, x, y, float("inf"), index, perturbations,
                               trace_of=lambda p, xp: cached_trace(ckpt.model, table, xp, perturbed_images_id(base, p),
                                                                   weights, index=index))
        points.append(recipe_point(shifts, table, rows))
        point = points[-1]
        accs = ", ".join(f"{g} {100 * a:.2f}%" for g, a in point.accuracy.items())
        print(f"  {shifts:5s} {point.rows:>10,} rows {point.storage_bytes / 1e6:7.1f} MB: lookup {accs}", flush=True)
    print("  RAM: " + ", ".join(f"{g} {100 * a:.2f}%" for g, a in points[0].ram_accuracy.items()))
    if args.record:
        command = "python -m mbi recipes " + " ".join(shlex.quote(a) for a in (
            args.checkpoint, "--shifts", args.shifts, "--split", args.split, "--images", str(args.images),
            "--weights", args.weights, "--perturb", ",".join(p.name for p in perturbations), "--record"))
        path = write_recipe_tradeoff(ckpt.folder, points, base, weights, command)
        print(f"  recorded in {path}")
    return 0
