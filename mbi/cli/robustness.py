"""``python -m mbi robustness [CHECKPOINT]``: the RAM, lookup-only and mixed MBI on perturbed test digits."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from mbi.cli.options import (add_lookup_options, add_perturb_option, checkpoint_of, data_of, image_count, parse_floats,
                              recipe_of, table_of, weights_of)
from mbi.data import dataset_info
from mbi.inference.fallback import recorded_fallback
from mbi.inference.gate import LearnedGate
from mbi.inference.lookup import StepIndex
from mbi.inference.robustness import STANDARD, GateSetting, Perturbation, group_means, \
    perturbed_images_id, robustness_rows
from mbi.inference.vote import LearnedVote, read_vote
from mbi.memory.lut import LookupTable
from mbi.model.checkpoint import RecordedGates
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace
from mbi.store import atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``robustness`` command."""
    p = subparsers.add_parser("robustness", help="RAM, lookup-only and mixed MBI on shifted and noisy digits")
    add_lookup_options(p, splits=("test", "val"), tree=False)
    p.add_argument("--threshold", default="chosen",
                   help="mixed-MBI distance threshold, or 'chosen' (the checkpoint's lookup.json)")
    add_perturb_option(p, many=True, default=",".join(x.name for x in STANDARD),
                       default_help="clean, 1 and 2 px in 4 directions, noise 0.1 and 0.2 with seed 0")
    p.add_argument("--learned-share", default=None,
                   help="also run mixed MBI with the learned gate (`python -m mbi gate --fit --record`) at its "
                        "threshold recorded for this share of validation images by lookup (e.g. 0.8; default: the "
                        "largest recorded share, 0.9 for the shipped MNIST model; skipped when none is recorded), "
                        "or 'none'")
    p.add_argument("--figure", type=Path, help="also write the figure as an HTML file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Perturb, look up, print a table (or JSON) and optionally write the figure."""
    from mbi.plots.robustness import robustness_bars

    perturbations = list(args.perturb)
    ckpt = checkpoint_of(args)
    weights = weights_of(args, ckpt)
    if args.threshold == "chosen":
        if ckpt.lookup.threshold is None:
            raise ValueError(f"{ckpt.folder}/lookup.json has no chosen threshold; pass --threshold T or choose one "
                             "on validation with `lookup --split val --thresholds auto --min-accuracy A --record`")
        threshold = ckpt.lookup.threshold
    else:
        threshold = parse_floats(args.threshold)[0] if args.threshold.strip() else float("nan")
    count = image_count(args)
    data = data_of(args, ckpt)
    x, y = data.split(args.split)
    if count is not None:
        x, y = x[:count], y[:count]
    model, table = ckpt.model, table_of(args, ckpt)
    recipe = recipe_of(args, ckpt)
    gates = ckpt.gates(recipe)
    learned = learned_setting(gates, args.learned_share, data.train_y, table,
                              None if gates.fallback is None else read_vote(ckpt.folder, recipe), weights)
    index = StepIndex(table, weights)

    def images_id(p: Perturbation) -> str:  # names the images in the trace and neighbour caches (as `gate` does)
        return perturbed_images_id(f"{args.split}:{len(y)}", p)

    bar = tqdm(total=len(perturbations), desc="perturbations", unit="set", disable=args.json)
    rows = robustness_rows(model, table, x, y, threshold, index, perturbations,
                           progress=lambda i, p: bar.update(i - bar.n), learned=learned,
                           trace_of=lambda p, xp: cached_trace(model, table, xp, images_id(p), weights, index=index),
                           neighbours_of=lambda p, trace: cached_neighbours(table, weights, trace, images_id(p),
                                                                            learned.gate.k, index=index))
    bar.update(len(perturbations) - bar.n)
    bar.close()
    res = {"images": int(len(y)), "dataset": ckpt.dataset, "split": args.split, "table_rows": int(len(table)),
           "table_mb": table.storage_bytes()["total_binary"] / 1e6, "table_shifts": table.meta.get("shifts", []),
           "weights": [float(w) for w in weights], "threshold": threshold,
           "learned_gate": None if learned is None else {"share": learned.share, "threshold": learned.threshold,
                                                         "fitted_on": learned.gate.fitted_on},
           "fused_fallback": None if learned is None or learned.fused is None else learned.fused.to_dict(),
           "rows": [asdict(r) for r in rows], "groups": group_means(rows)}
    if args.figure:
        atomic_write_text(args.figure, robustness_bars(res["rows"], res["groups"]).to_html(include_plotlyjs=True))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    print(f"{res['images']} {dataset_info(ckpt.dataset).title} {args.split} images, table of {res['table_rows']:,} "
          f"rows ({res['table_mb']:.1f} MB), weights {list(weights)}, mixed threshold {threshold:.4g}"
          + ("" if learned is None else f"; learned gate at its threshold for {100 * learned.share:g}% by lookup "
                                        f"on validation ({learned.threshold:.4g})")
          + ("" if learned is None or learned.fused is None else
             f"; fused: the same with the fused fallback (beta {learned.fused.beta:g})"))
    fused = learned is not None and learned.fused is not None
    print(_line("perturbation", "RAM", "lookup", "mixed", "by lookup", "lookup part", learned is not None,
                ("learned", "by lookup", "lookup part", "AUC dist.", "AUC learned") + (("fused",) if fused else ())))
    for r in [asdict(r) for r in rows] + [{"perturbation": "mean per group:"}] + res["groups"]:
        if "ram_accuracy" not in r:
            print(f"  {r['perturbation']}")
            continue
        print(_line(r.get("perturbation", r.get("group")), _pct(r["ram_accuracy"]), _pct(r["lookup_accuracy"]),
                    _pct(r["mixed_accuracy"]), _pct(r["lookup_share"], 1), _pct(r["lookup_part_accuracy"]),
                    learned is not None,
                    (_pct(r["learned_accuracy"]), _pct(r["learned_lookup_share"], 1), _pct(r["learned_part_accuracy"]),
                     _num(r["distance_auc"]), _num(r["learned_auc"])) + ((_pct(r["fused_accuracy"]),) if fused else ())))
    if args.figure:
        print(f"  wrote {args.figure}")
    return 0


def learned_setting(gates: RecordedGates, share: str | None, train_labels: np.ndarray,
                    table: LookupTable, vote: LearnedVote | None = None,
                    weights: Sequence[float] | None = None) -> GateSetting | None:
    """The learned gate recorded for ``table`` (``gates``, :meth:`mbi.model.checkpoint.Checkpoint.gates`) at its
    validation threshold for ``share`` (None: the largest recorded share; 'none': no learned gate; None too when no
    gate or no learned-gate threshold is recorded; a share without a recorded threshold, or a gate fitted on another
    table, is an error). ``train_labels``: ``[N]`` classes of the training digits the table was distilled from.
    With a fused fallback recorded in ``gates``, it comes too, with ``vote``, the table's recorded vote it was fitted
    for (a missing or other vote, or ``weights`` other than the vote's, is an error that says what to run)."""
    if share is not None and share.strip().lower() == "none":
        return None
    thresholds = gates.gate_thresholds.get("learned", {})
    if gates.gate is None or not thresholds:
        return None
    key = max(thresholds, key=float) if share is None else f"{float(share):g}"
    if key not in thresholds:
        raise ValueError(f"--learned-share {share}: the learned gate has thresholds for shares {sorted(thresholds)}; "
                         "pass one of them or 'none'")
    gate = LearnedGate.from_dict(dict(gates.gate))
    gate.check_table(table)
    fused = None
    if gates.fallback is not None:
        fused = recorded_fallback(gates.fallback, vote)
        vote.check_table(table, vote.weights if weights is None else weights, gate.k)
    return GateSetting(gate, float(thresholds[key]), train_labels, float(key), fused, None if fused is None else vote)


def _pct(v: float | None, decimals: int = 2) -> str:
    return "-" if v is None else f"{100 * v:.{decimals}f}%"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _line(name: str, ram: str, lookup: str, mixed: str, share: str, part: str, with_learned: bool,
          learned: tuple[str, ...]) -> str:
    out = f"  {name:18s} {ram:>8s} {lookup:>8s} {mixed:>8s} {share:>10s} {part:>12s}"
    if with_learned:
        out += " " + " ".join(f"{v:>{w}s}" for v, w in zip(learned, (8, 10, 12, 10, 12, 8)))
    return out
