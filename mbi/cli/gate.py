"""``python -m mbi gate [CHECKPOINT]``: fit the learned mixed-MBI gate on validation, compare it with the distance gate."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from mbi.cli.options import add_lookup_options, checkpoint_of, data_of, image_count, table_of, weights_of
from mbi.inference.gate import DEFAULT_K, GATES, LearnedGate, accuracy_at_share, feature_names, gate_curve, \
    largest_share, out_of_fold_scores
from mbi.inference.robustness import parse_perturbation, perturbed_images_id
from mbi.runs.gatecache import DEFAULT_SHARES, gate_inputs, gate_report, recorded_shares


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gate`` command."""
    p = subparsers.add_parser("gate", help="fit the learned mixed-MBI gate on validation; compare gates on a split")
    add_lookup_options(p, tree=False)
    p.add_argument("--perturb", default="clean",
                   help="perturb the images first: clean (default), shift-up|down|left|right-PIXELS or "
                        "noise-SIGMA[-seedN] (see `python -m mbi robustness`)")
    p.add_argument("--k", type=int,
                   help=f"neighbours per step the gate looks at (default: {DEFAULT_K} with --fit, else the recorded "
                        "gate's)")
    p.add_argument("--fit", action="store_true",
                   help="fit the learned gate on this split (validation only) and, for both gates, the thresholds "
                        "that answer each of --shares of its images by lookup")
    p.add_argument("--shares", type=_shares, default=None,
                   help="comma-separated shares answered by lookup, e.g. 0.7,0.8 (default: with --fit 0.8,0.9; "
                        "else the recorded thresholds' shares)")
    p.add_argument("--min-accuracy", type=float, default=None,
                   help="with --fit: also choose a share, the largest (in whole percent) whose mixed accuracy with "
                        "the learned gate's out-of-fold scores on these images is at least this (e.g. 0.865)")
    p.add_argument("--record", action="store_true", help="with --fit: store the gate and thresholds in lookup.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _shares(text: str) -> tuple[float, ...]:
    """``--shares``: comma-separated fractions in (0, 1]."""
    try:
        shares = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shares takes comma-separated numbers such as 0.7,0.8, got {text!r}")
    if not shares or any(not 0.0 < v <= 1.0 for v in shares):
        raise argparse.ArgumentTypeError(f"--shares must be fractions in (0, 1], got {text!r}")
    return shares


def run(args: argparse.Namespace) -> int:
    """Compute the trace and neighbours (cached), fit or load the gate, report both gates."""
    ckpt = checkpoint_of(args)
    folder = ckpt.folder
    if args.fit and args.split != "val":
        raise ValueError("fit the gate on validation data only: use --split val with --fit")
    if args.record and not args.fit:
        raise ValueError("--record stores a fitted gate: use it with --fit")
    if args.min_accuracy is not None and (not args.fit or not 0.0 < args.min_accuracy <= 1.0):
        raise ValueError(f"--min-accuracy (a fraction in (0, 1], got {args.min_accuracy}) chooses a share while "
                         "fitting: use it with --fit")
    perturbation = parse_perturbation(args.perturb)
    count = image_count(args)
    settings = ckpt.lookup
    gate = None
    if not args.fit:
        if settings.gate is None:
            raise ValueError(f"{folder}/lookup.json has no learned gate; fit one on validation with "
                             "`python -m mbi gate CHECKPOINT --fit --record`")
        gate = LearnedGate.from_dict(settings.gate)
        if args.k is not None and gate.k != args.k:
            raise ValueError(f"the recorded gate looks at k={gate.k} neighbours; run with --k {gate.k} (or without "
                             "--k), or fit it again with --fit --record")
    weights = weights_of(args, ckpt)
    data = data_of(args, ckpt)
    model, table = ckpt.model, table_of(args, ckpt)
    k = gate.k if gate is not None else (DEFAULT_K if args.k is None else args.k)
    names = feature_names(table.num_glimpses) if gate is None else list(gate.features)
    x, y = data.split(args.split)
    if count is not None:
        x, y = x[:count], y[:count]
    x = perturbation.apply(x)
    images_id = perturbed_images_id(f"{args.split}:{len(x)}", perturbation)
    inputs = gate_inputs(model, table, x, y, data.train_y, weights, images_id, k, names)
    if gate is None:
        gate = LearnedGate.fit(inputs.features, inputs.wrong, names, k, fitted_on=images_id)
        learned_score = out_of_fold_scores(inputs.features, inputs.wrong, names, k)
        shares = args.shares or DEFAULT_SHARES
        if args.min_accuracy is not None:
            chosen = largest_share(gate_curve(learned_score, inputs.trace.prediction, inputs.ram_pred, y),
                                   args.min_accuracy)
            shares = tuple(sorted({*(args.shares or ()), chosen}))
        fitted = {"distance": inputs.trace.max_distance, "learned": gate.score(inputs.features)}
        thresholds = {g: {f"{s:g}": accuracy_at_share(gate_curve(fitted[g], inputs.trace.prediction, inputs.ram_pred,
                                                                 y), s).threshold for s in shares} for g in GATES}
    else:
        learned_score = gate.score(inputs.features)
        thresholds = settings.gate_thresholds
        shares = args.shares or recorded_shares(thresholds)
    scores = {"distance": inputs.trace.max_distance.astype(np.float64), "learned": learned_score}
    report = gate_report(inputs, scores, thresholds, shares)
    res = {"images": report["images"], "dataset": ckpt.dataset, "split": args.split,
           "perturbation": perturbation.name, "k": k, "weights": [float(w) for w in weights], "features": names,
           "ram_accuracy": report["ram_accuracy"], "lookup_accuracy": report["lookup_accuracy"],
           "learned_scores": "out-of-fold (5 folds of this split)" if args.fit else f"fitted on {gate.fitted_on}",
           "gates": report["gates"]}
    if args.record:
        ckpt.save_lookup(replace(settings, gate=gate.to_dict(), gate_thresholds=thresholds))
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    which = "" if perturbation.kind == "clean" else f" ({perturbation.name})"
    print(f"{res['images']} {args.split} images{which}: RAM {100 * res['ram_accuracy']:.2f}%, lookup-only "
          f"{100 * res['lookup_accuracy']:.2f}%; learned gate scores {res['learned_scores']}")
    for g in GATES:
        r = res["gates"][g]
        print(f"  {g:8s} gate: ROC AUC for 'the lookup answer is wrong' {r['auc']:.4f}")
        for row in r["at_share"]:
            line = (f"    {100 * row['share']:g}% by lookup on these images: {100 * row['accuracy_here']:.2f}% mixed "
                    f"(threshold {row['threshold_here']:.4g})")
            if "threshold" in row:
                line += (f"; at the validation threshold {row['threshold']:.4g}: {100 * row['accuracy']:.2f}% with "
                         f"{100 * row['lookup_share']:.1f}% by lookup")
            print(line)
    if args.record:
        print(f"  recorded the gate and its thresholds in {folder / 'lookup.json'}")
    return 0
