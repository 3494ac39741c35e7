"""``python -m mbi gate [CHECKPOINT]``: fit the learned mixed-MBI gate on validation, compare it with the distance gate."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from mbi.cli.lookup import parse_floats
from mbi.data import load_mnist
from mbi.inference.gate import (DEFAULT_K, GATES, LearnedGate, accuracy_at_share, error_auc, feature_names,
                                gate_curve, gate_features, gated_predictions, out_of_fold_scores, wrong_answers)
from mbi.cli.options import add_table_options, table_of
from mbi.model.checkpoint import Checkpoint, LookupSettings, load_model, lookup_settings, resolve_checkpoint
from mbi.model.predict import predict
from mbi.inference.robustness import parse_perturbation, perturbed_images_id
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace

SHARES = (0.8, 0.9)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gate`` command."""
    p = subparsers.add_parser("gate", help="fit the learned mixed-MBI gate on validation; compare gates on a split")
    p.add_argument("checkpoint", nargs="?", default="default", help="run folder or 'default'")
    add_table_options(p)
    p.add_argument("--split", choices=("val", "test"), default="val")
    p.add_argument("--images", type=int, help="use only the first N images of the split")
    p.add_argument("--weights", default="chosen", help="a,b,c of eq. (1), or 'chosen' (the checkpoint's lookup.json)")
    p.add_argument("--perturb", default="clean",
                   help="perturb the images first: clean (default), shift-up|down|left|right-PIXELS or "
                        "noise-SIGMA[-seedN] (see `python -m mbi robustness`)")
    p.add_argument("--k", type=int,
                   help=f"neighbours per step the gate looks at (default: {DEFAULT_K} with --fit, else the recorded gate's)")
    p.add_argument("--fit", action="store_true",
                   help="fit the learned gate on this split (validation only) and the thresholds that answer "
                        "80%% and 90%% of its images by lookup, for both gates")
    p.add_argument("--record", action="store_true", help="with --fit: store the gate and thresholds in lookup.json")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _gate_report(score: np.ndarray, wrong: np.ndarray, lookup_pred: np.ndarray, ram_pred: np.ndarray,
                 labels: np.ndarray, thresholds: dict[str, float] | None) -> dict:
    """AUC, the curve, and mixed MBI at each share: at the recorded threshold and at the share on these images."""
    curve = gate_curve(score, lookup_pred, ram_pred, labels)
    at = []
    for share in SHARES:
        here = accuracy_at_share(curve, share)
        row = {"share": share, "threshold_here": here.threshold, "accuracy_here": here.accuracy,
               "lookup_share_here": here.lookup_share}
        if thresholds and f"{share:g}" in thresholds:
            pred, mask = gated_predictions(score, lookup_pred, ram_pred, thresholds[f"{share:g}"])
            row.update(threshold=thresholds[f"{share:g}"], accuracy=float(np.mean(pred == labels)),
                       lookup_share=float(mask.mean()))
        at.append(row)
    return {"auc": error_auc(score, wrong), "at_share": at, "curve": [vars(p) for p in curve]}


def run(args: argparse.Namespace) -> int:
    """Compute the trace and neighbours (cached), fit or load the gate, report both gates."""
    folder = resolve_checkpoint(args.checkpoint)
    if args.fit and args.split != "val":
        raise ValueError("fit the gate on validation data only: use --split val with --fit")
    if args.record and not args.fit:
        raise ValueError("--record stores a fitted gate: use it with --fit")
    model = load_model(folder)
    table = table_of(args, Checkpoint(folder))
    settings = lookup_settings(folder)
    weights = settings.get("weights", [1.0, 1.0, 1.0]) if args.weights == "chosen" else parse_floats(args.weights)
    if len(weights) != 3:
        raise ValueError(f"--weights needs three numbers a,b,c, got {weights}")
    mnist = load_mnist()
    x, y = mnist.split(args.split)
    if args.images:
        x, y = x[: args.images], y[: args.images]
    perturbation = parse_perturbation(args.perturb)
    x = perturbation.apply(x)
    images_id = perturbed_images_id(f"{args.split}:{len(x)}", perturbation)
    gate = None
    if not args.fit:
        if "gate" not in settings:
            raise ValueError(f"{folder}/lookup.json has no learned gate; fit one on validation with "
                             "`python -m mbi gate CHECKPOINT --fit --record`")
        gate = LearnedGate.from_dict(settings["gate"])
        if args.k is not None and gate.k != args.k:
            raise ValueError(f"the recorded gate looks at k={gate.k} neighbours; run with --k {gate.k} (or without "
                             "--k), or fit it again with --fit --record")
    k = gate.k if gate is not None else (DEFAULT_K if args.k is None else args.k)
    names = feature_names(table.num_glimpses) if gate is None else list(gate.features)
    trace = cached_trace(model, table, x, images_id, weights)
    neighbours = cached_neighbours(table, weights, trace, images_id, k)
    features = gate_features(trace, neighbours, table, mnist.train_y, names)
    wrong = wrong_answers(trace, y)
    ram_pred = predict(model, x)
    if gate is None:
        gate = LearnedGate.fit(features, wrong, names, k, fitted_on=images_id)
        learned_score = out_of_fold_scores(features, wrong, names, k)
        thresholds = {
            "distance": {f"{s:g}": accuracy_at_share(gate_curve(trace.max_distance, trace.prediction, ram_pred, y),
                                                     s).threshold for s in SHARES},
            "learned": {f"{s:g}": accuracy_at_share(gate_curve(gate.score(features), trace.prediction, ram_pred, y),
                                                    s).threshold for s in SHARES},
        }
    else:
        learned_score = gate.score(features)
        thresholds = settings.get("gate_thresholds", {})
    scores = {"distance": trace.max_distance.astype(np.float64), "learned": learned_score}
    res = {"images": int(len(y)), "split": args.split, "perturbation": perturbation.name, "k": k,
           "weights": [float(w) for w in weights], "features": names,
           "ram_accuracy": float(np.mean(ram_pred == y)), "lookup_accuracy": float(np.mean(~wrong)),
           "learned_scores": "out-of-fold (5 folds of this split)" if args.fit else f"fitted on {gate.fitted_on}",
           "gates": {g: _gate_report(scores[g], wrong, trace.prediction, ram_pred, y, thresholds.get(g))
                     for g in GATES}}
    if args.record:
        recorded = LookupSettings.read(folder)
        replace(recorded, gate=gate.to_dict(), gate_thresholds=thresholds).write(folder)
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
            line = (f"    {100 * row['share']:.0f}% by lookup on these images: {100 * row['accuracy_here']:.2f}% mixed "
                    f"(threshold {row['threshold_here']:.4g})")
            if "threshold" in row:
                line += (f"; at the validation threshold {row['threshold']:.4g}: {100 * row['accuracy']:.2f}% with "
                         f"{100 * row['lookup_share']:.1f}% by lookup")
            print(line)
    if args.record:
        print(f"  recorded the gate and its thresholds in {folder / 'lookup.json'}")
    return 0
