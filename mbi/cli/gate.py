"""``python -m mbi gate [CHECKPOINT]``: fit the learned mixed-MBI gate on validation, compare it with the distance gate.

With ``--answers vote`` the images a gate keeps are answered by the recorded learned vote (``vote.json``) instead of the
plain lookup, and a third gate joins: the one fitted to predict the voted answer's errors
(:mod:`mbi.inference.votegate`, recorded as ``vote_gate``).

The gates of the checkpoint's own table are recorded in ``lookup.json``; those of its table of another recipe
(``--table-shifts``) in that recipe's gate file (:func:`mbi.model.checkpoint.gate_file`, e.g.
``gate-shift1px.json``), so a gate is never applied to lookups of a table it was not fitted on."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from mbi.cli.options import (add_lookup_options, add_perturb_option, checkpoint_of, data_of, image_count, number_list,
                              recipe_of, table_of, weights_of)
from mbi.inference.gate import ANSWERS, DEFAULT_K, GATES, LearnedGate, accuracy_at_share, feature_names, gate_curve, \
    largest_share, out_of_fold_scores
from mbi.inference.fallback import FALLBACKS, FusedFallback, choose_beta, nested_fused_answers, recorded_fallback
from mbi.inference.robustness import perturbed_images_id
from mbi.inference.vote import FIT_COMMAND as VOTE_FIT_COMMAND, fold_parts, out_of_fold_scores as vote_oof_scores, \
    read_vote, vote_features
from mbi.inference.votegate import VOTE_GATE, fit_vote_gate, nested_scores, recorded_vote_gate, vote_gate_names, voted
from mbi.memory.lut import LookupTable, table_fingerprint
from mbi.model.checkpoint import Checkpoint, RecordedGates
from mbi.runs.gatecache import DEFAULT_SHARES, GateInputs, gate_inputs, gate_report, recorded_shares
from mbi.search.weights import Weights


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gate`` command."""
    p = subparsers.add_parser("gate", help="fit the learned mixed-MBI gate on validation; compare gates on a split")
    add_lookup_options(p, tree=False)
    add_perturb_option(p)
    p.add_argument("--k", type=int,
                   help=f"neighbours per step the gate looks at (default: {DEFAULT_K} with --fit, else the recorded "
                        "gate's)")
    p.add_argument("--fit", action="store_true",
                   help="fit the learned gate on this split (validation only) and, for both gates, the thresholds "
                        "that answer each of --shares of its images by lookup")
    p.add_argument("--shares", default=None,
                   type=number_list("--shares", "0.7,0.8", lambda v: 0.0 < v <= 1.0, "fractions in (0, 1]"),
                   help="comma-separated shares answered by lookup, e.g. 0.7,0.8 (default: with --fit 0.8,0.9; "
                        "else the recorded thresholds' shares)")
    p.add_argument("--min-accuracy", type=float, default=None,
                   help="with --fit: also choose a share, the largest (in whole percent) whose mixed accuracy with "
                        "the learned gate's out-of-fold scores on these images is at least this (e.g. 0.865)")
    p.add_argument("--answers", choices=ANSWERS, default="plain",
                   help="the lookup answers mixed MBI keeps: plain (the last glimpse's readout, default) or vote (the "
                        "recorded learned vote's, `python -m mbi vote`); with vote a third gate, fitted on the vote's "
                        "out-of-fold answers to predict their errors, is compared")
    p.add_argument("--fallback", choices=FALLBACKS, default="ram",
                   help="what answers the digits a gate sends away: ram (the RAM's class, the paper's; default) or "
                        "fused (the RAM's and the recorded learned vote's class probabilities combined, "
                        "log p_RAM + beta log p_vote; with --fit beta is chosen on these images at 80%% by lookup and "
                        "graded out of fold, with --record stored beside the gate)")
    p.add_argument("--record", action="store_true",
                   help="with --fit: store the gate and thresholds for this table, in lookup.json for the checkpoint's "
                        "own table, else in the recipe's gate file, e.g. gate-shift1px.json (with --answers vote: "
                        "only the gate of voted answers and its thresholds; with --fallback fused: only the fallback)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


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
    perturbation = args.perturb
    count = image_count(args)
    recipe = recipe_of(args, ckpt)
    shifts = "" if recipe == ckpt.lookup.table else f" --table-shifts {recipe.shifts}"
    recorded = ckpt.gates(recipe)
    gate = None
    if not args.fit:
        if recorded.gate is None:
            raise ValueError(f"{folder} has no learned gate recorded for this table (shifts {recipe.shifts}); fit one "
                             f"on validation with `python -m mbi gate CHECKPOINT{shifts} --fit --record`")
        gate = LearnedGate.from_dict(dict(recorded.gate))
        if args.k is not None and gate.k != args.k:
            raise ValueError(f"the recorded gate looks at k={gate.k} neighbours; run with --k {gate.k} (or without "
                             "--k), or fit it again with --fit --record")
    weights = weights_of(args, ckpt)
    data = data_of(args, ckpt)
    model, table = ckpt.model, table_of(args, ckpt)
    if gate is not None:
        gate.check_table(table)
    k = gate.k if gate is not None else (DEFAULT_K if args.k is None else args.k)
    names = feature_names(table.num_glimpses) if gate is None else list(gate.features)
    x, y = data.split(args.split)
    if count is not None:
        x, y = x[:count], y[:count]
    x = perturbation.apply(x)
    images_id = perturbed_images_id(f"{args.split}:{len(x)}", perturbation)
    inputs = gate_inputs(model, table, x, y, data.train_y, weights, images_id, k, names)
    if gate is None:
        gate = LearnedGate.fit(inputs.features, inputs.wrong, names, k, fitted_on=images_id,
                               table=table_fingerprint(table))
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
        thresholds = recorded.gate_thresholds
        shares = args.shares or recorded_shares(thresholds)
    scores = {"distance": inputs.trace.max_distance.astype(np.float64), "learned": learned_score}
    answer = vote_gate = None
    if args.answers == "vote":
        answer, vote_score, vote_thresholds, vote_gate = _vote_gate(args, ckpt, recorded, inputs, table, weights,
                                                                    data.train_y, images_id)
        if vote_score is not None:
            scores[VOTE_GATE] = vote_score
            thresholds = {**thresholds, VOTE_GATE: vote_thresholds}
    fallback = fused = None
    if args.fallback == "fused":
        fallback, fused, fused_res = _fused_fallback(args, ckpt, recorded, inputs, table, weights, data.train_y,
                                                     images_id, scores["learned"], answer)
    report = gate_report(inputs, scores, thresholds, shares, answer, fallback)
    res = {"images": report["images"], "dataset": ckpt.dataset, "split": args.split,
           "perturbation": perturbation.name, "k": k, "weights": [float(w) for w in weights], "features": names,
           "answers": args.answers, "fallback": args.fallback, "ram_accuracy": report["ram_accuracy"],
           "fallback_accuracy": report["fallback_accuracy"],
           "lookup_accuracy": report["lookup_accuracy"],
           "learned_scores": "out-of-fold (5 folds of this split)" if args.fit else f"fitted on {gate.fitted_on}",
           "gates": report["gates"]}
    if fused is not None:
        res["fused"] = fused_res
    written = None
    if args.record and args.fallback == "fused":
        written = ckpt.save_gates(replace(recorded, fallback=fused.to_dict()), recipe)
    elif args.record and args.answers == "vote":
        written = ckpt.save_gates(replace(recorded, vote_gate=vote_gate.to_dict(), gate_thresholds={
            **recorded.gate_thresholds, VOTE_GATE: thresholds[VOTE_GATE]}), recipe)
    elif args.record:
        written = ckpt.save_gates(replace(recorded, gate=gate.to_dict(), gate_thresholds=thresholds), recipe)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    which = "" if perturbation.kind == "clean" else f" ({perturbation.name})"
    voted = " (voted answers)" if args.answers == "vote" else ""
    print(f"{res['images']} {args.split} images{which}: RAM {100 * res['ram_accuracy']:.2f}%, lookup-only{voted} "
          f"{100 * res['lookup_accuracy']:.2f}%; learned gate scores {res['learned_scores']}")
    if fused is not None:
        print(f"  fallback: the RAM and the learned vote fused (beta {fused.beta:g}, {fused_res['beta_from']}): "
              f"{100 * res['fallback_accuracy']:.2f}% on all these images")
    for g in res["gates"]:
        r = res["gates"][g]
        print(f"  {g:8s} gate: ROC AUC for 'the lookup answer{voted} is wrong' {r['auc']:.4f}")
        for row in r["at_share"]:
            line = (f"    {100 * row['share']:g}% by lookup on these images: {100 * row['accuracy_here']:.2f}% mixed "
                    f"(threshold {row['threshold_here']:.4g})")
            if "threshold" in row:
                line += (f"; at the validation threshold {row['threshold']:.4g}: {100 * row['accuracy']:.2f}% with "
                         f"{100 * row['lookup_share']:.1f}% by lookup")
            print(line)
    if args.record:
        which_gate = ("fused fallback" if args.fallback == "fused" else
                      "gate of voted answers" if args.answers == "vote" else "gate")
        print(f"  recorded the {which_gate}" + ("" if args.fallback == "fused" else " and its thresholds") + f" in {written}")
    return 0


def _vote_gate(args: argparse.Namespace, ckpt: Checkpoint, recorded: RecordedGates, inputs: GateInputs,
               table: LookupTable, weights: Weights, train_labels: np.ndarray, images_id: str
               ) -> tuple[np.ndarray, np.ndarray | None, dict[str, float], LearnedGate | None]:
    """With ``--answers vote``: the recorded vote's answers ``[B]``, the gate of voted answers' scores ``[B]``, its
    thresholds per share and the gate fitted here (what ``--record`` stores; None without ``--fit``). With ``--fit``
    the answers and scores are nested out of fold (:func:`mbi.inference.votegate.nested_scores`), the gate is fitted
    on all these images' out-of-fold vote answers and its thresholds chosen on them; else the recorded gate and
    thresholds of the table (``recorded``; no scores when none is recorded: the other gates then grade the voted
    answers alone)."""
    vote = read_vote(ckpt.folder, recipe_of(args, ckpt))
    if vote is None:
        raise ValueError(f"{ckpt.folder} has no recorded vote; fit one on validation with `{VOTE_FIT_COMMAND}`")
    vote.check_table(table, weights, inputs.neighbours.k)
    trace, nb, y = inputs.trace, inputs.neighbours, inputs.labels
    if args.fit:
        features = vote_features(trace, nb, table, train_labels)
        names = vote_gate_names(table.num_glimpses)
        answer, score = nested_scores(vote, features, trace, nb, table, train_labels, y, names)
        gate, x, oof = fit_vote_gate(vote, features, trace, nb, table, train_labels, y, names, fitted_on=images_id)
        curve = gate_curve(gate.score(x), oof.argmax(axis=1), inputs.ram_pred, y)
        thresholds = {f"{s:g}": accuracy_at_share(curve, s).threshold for s in args.shares or DEFAULT_SHARES}
        return answer, score, thresholds, gate
    entry = recorded.vote_gate
    gate = None if entry is None else recorded_vote_gate(entry, vote)
    answer, score = voted(vote, trace, nb, table, train_labels, gate)
    return answer, score, dict(recorded.gate_thresholds.get(VOTE_GATE, {})), None


def _fused_fallback(args: argparse.Namespace, ckpt: Checkpoint, recorded: RecordedGates, inputs: GateInputs,
                    table: LookupTable, weights: Weights, train_labels: np.ndarray, images_id: str,
                    learned_score: np.ndarray, answer: np.ndarray | None
                    ) -> tuple[np.ndarray, FusedFallback, dict]:
    """With ``--fallback fused``: the fallback answers ``[B]`` (:func:`mbi.inference.fallback.fused_answers` of the RAM's
    and the table's recorded vote's class scores), the fallback they come from and what to report. With ``--fit`` the
    vote's scores are out of fold, beta is chosen on all these images with the learned gate's (out-of-fold)
    ``learned_score`` at :data:`mbi.inference.fallback.FALLBACK_SHARE` (the fallback ``--record`` stores) and the answers
    graded are nested out of fold (each fold's beta chosen on the other folds); else the recorded fallback's."""
    vote = read_vote(ckpt.folder, recipe_of(args, ckpt))
    if vote is None:
        raise ValueError(f"the fused fallback combines the RAM with the learned vote, and {ckpt.folder} has none "
                         f"recorded for this table; fit one on validation with `{VOTE_FIT_COMMAND}`")
    vote.check_table(table, weights, inputs.neighbours.k)
    features = vote_features(inputs.trace, inputs.neighbours, table, train_labels, vote.classes)
    lookup = inputs.trace.prediction if answer is None else answer
    if args.fit:
        vote_scores = vote_oof_scores(features, inputs.labels, vote.c, steps=vote.steps, classes=vote.classes)
        beta, curve = choose_beta(learned_score, lookup, inputs.ram_logits, vote_scores, inputs.labels)
        fused = FusedFallback(beta, vote.digest, fitted_on=images_id, curve=curve)
        answers, per_fold = nested_fused_answers(learned_score, lookup, inputs.ram_logits, vote_scores, inputs.labels,
                                                 fold_parts(len(inputs.labels)))
        return answers, fused, {"beta": beta, "curve": curve, "beta_per_fold": per_fold,
                                "beta_from": "chosen on these images; graded with each fold's beta chosen on the "
                                             "other folds and the vote's out-of-fold scores"}
    fused = recorded_fallback(recorded.fallback, vote)
    return fused.answers(inputs.ram_logits, vote.scores(features)), fused, {
        "beta": fused.beta, "beta_from": f"recorded, chosen on {fused.fitted_on}"}
