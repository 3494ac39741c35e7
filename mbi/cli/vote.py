"""``python -m mbi vote [CHECKPOINT]``: fit the learned vote for lookup-only answers on validation, record it beside the
checkpoint (``vote.json``; for the table of another recipe, ``--table-shifts``, e.g. ``vote-shift1px.json``), and
compare plain lookup-only answers with voted ones on a split."""

from __future__ import annotations

import argparse
import json

import numpy as np

from mbi.cli.options import (add_lookup_options, add_perturb_option, checkpoint_of, data_of, image_count, number_list,
                              recipe_of, table_of, weights_of)
from mbi.inference.gate import DEFAULT_K
from mbi.inference.robustness import perturbed_images_id, recipe_shifts
from mbi.inference.vote import (C_GRID, FIT_COMMAND, FOLDS, LearnedVote, choose_c, out_of_fold_predictions, read_vote,
                               vote_features, vote_file, write_vote)
from mbi.memory.recipe import SHIFT_CHOICES
from mbi.memory.lut import table_fingerprint
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace

FIT_SHIFTED_IMAGES = 2000
"""How many of the first fitting digits ``--fit-shifts`` shifts (the shifted-digit vote of RESULTS.md item 9)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``vote`` command."""
    p = subparsers.add_parser("vote", help="fit the learned vote for lookup-only answers on validation; compare plain "
                                           "and voted lookup-only answers on a split")
    add_lookup_options(p, tree=False)
    add_perturb_option(p)
    p.add_argument("--k", type=int,
                   help=f"neighbours per step the vote looks at (default: {DEFAULT_K} with --fit, else the recorded "
                        "vote's)")
    p.add_argument("--fit", action="store_true",
                   help=f"fit the vote on this split (validation only), C chosen by {FOLDS}-fold out-of-fold accuracy "
                        "over --c-grid")
    p.add_argument("--c-grid", default=C_GRID,
                   type=number_list("--c-grid", "0.1,1", lambda v: 0.0 < v < float("inf"), "positive numbers"),
                   help="with --fit: comma-separated inverse L2 strengths to choose from (default "
                        f"{','.join(f'{c:g}' for c in C_GRID)})")
    p.add_argument("--fit-shifts", choices=[s for s in sorted(SHIFT_CHOICES) if s != "none"],
                   help="with --fit: learn also from shifted copies of the first --fit-shifted-images digits (1px: "
                        "moved by 1 px in 4 directions; 2px: by 1 and 2 px), folds by digit so that a digit and its "
                        "copies share one; C by out-of-fold accuracy over all of them")
    p.add_argument("--fit-shifted-images", type=int, default=FIT_SHIFTED_IMAGES,
                   help=f"with --fit-shifts: how many of the first digits are shifted (default {FIT_SHIFTED_IMAGES})")
    p.add_argument("--record", action="store_true", help="with --fit: store the vote beside the checkpoint (vote.json)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute the trace and neighbours (cached), fit or load the vote, report plain and voted accuracy."""
    ckpt = checkpoint_of(args)
    if args.fit and args.split != "val":
        raise ValueError("fit the vote on validation data only: use --split val with --fit")
    if args.record and not args.fit:
        raise ValueError("--record stores a fitted vote: use it with --fit")
    if args.fit_shifts is not None and not args.fit:
        raise ValueError("--fit-shifts adds shifted digits to what a vote is fitted on: use it with --fit")
    if args.fit_shifts is not None and args.perturb.kind != "clean":
        raise ValueError("--fit-shifts shifts the clean digits itself: leave out --perturb")
    if args.fit_shifted_images < 1:
        raise ValueError(f"--fit-shifted-images must be >= 1, got {args.fit_shifted_images}")
    if args.k is not None and args.k < 2:
        raise ValueError(f"--k must be an integer >= 2, got {args.k}")
    perturbation = args.perturb
    count = image_count(args)
    weights = weights_of(args, ckpt)
    recipe = recipe_of(args, ckpt)
    vote = None
    if not args.fit:
        vote = read_vote(ckpt.folder, recipe)
        if vote is None:
            shifts = "" if recipe == ckpt.lookup.table else f" --table-shifts {recipe.shifts}"
            raise ValueError(f"{ckpt.folder} has no recorded vote for this table ({vote_file(recipe)}); fit one on "
                             f"validation with `{FIT_COMMAND}{shifts}`")
    data = data_of(args, ckpt)
    model, table = ckpt.model, table_of(args, ckpt)
    if vote is not None:
        vote.check_table(table, weights, args.k)
    k = vote.k if vote is not None else (DEFAULT_K if args.k is None else args.k)
    x, y = data.split(args.split)
    if count is not None:
        x, y = x[:count], y[:count]
    x = perturbation.apply(x)
    images_id = perturbed_images_id(f"{args.split}:{len(x)}", perturbation)
    trace = cached_trace(model, table, x, images_id, weights)
    neighbours = cached_neighbours(table, weights, trace, images_id, k)
    features = vote_features(trace, neighbours, table, data.train_y)
    groups = {"clean": np.arange(len(y))}  # rows of the fitting set by group, indexes into rows/labels/digits
    rows, labels, digits = [features], [y], [np.arange(len(y))]
    if args.fit_shifts is not None:
        first = min(args.fit_shifted_images, len(y))
        for p in recipe_shifts(args.fit_shifts):
            ident = perturbed_images_id(f"{args.split}:{first}", p)
            shifted = p.apply(x[:first])
            tr = cached_trace(model, table, shifted, ident, weights)
            start = sum(len(r) for r in rows)
            rows.append(vote_features(tr, cached_neighbours(table, weights, tr, ident, k), table, data.train_y))
            labels.append(y[:first])
            digits.append(np.arange(first))
            groups.setdefault(p.group, np.empty(0, dtype=np.int64))
            groups[p.group] = np.concatenate([groups[p.group], start + np.arange(first)])
        pixels = " and ".join(str(px) for px in sorted({p.pixels for p in recipe_shifts(args.fit_shifts)}))
        fitted_on = f"{images_id} + {args.split}:{first} shifted by {pixels} px in 4 directions"
    else:
        fitted_on = images_id
    res = {"images": int(len(y)), "dataset": ckpt.dataset, "split": args.split, "perturbation": perturbation.name,
           "k": k,
           "weights": [float(w) for w in weights], "plain_accuracy": float(np.mean(trace.prediction == y))}
    if vote is None:
        fit_x, fit_y, fit_digits = np.concatenate(rows), np.concatenate(labels), np.concatenate(digits)
        steps = table.num_glimpses
        best, curve = choose_c(fit_x, fit_y, steps=steps, grid=args.c_grid, digits=fit_digits)
        accuracy = {}
        if len(groups) > 1:  # the chosen C's out-of-fold accuracy on the clean digits and on each shift
            right = out_of_fold_predictions(fit_x, fit_y, best, steps=steps, digits=fit_digits) == fit_y
            accuracy = {name: float(np.mean(right[at])) for name, at in groups.items()}
        vote = LearnedVote.fit(fit_x, fit_y, steps=steps, k=k, c=best, table=table_fingerprint(table),
                               weights=weights, fitted_on=fitted_on, curve=curve, accuracy=accuracy)
        res.update(c=best, curve=curve, vote_accuracy=accuracy.get("clean", curve[f"{best:g}"]),
                   vote_scores=f"out-of-fold ({FOLDS} folds of this split" + (", by digit" if accuracy else "") + ")",
                   fitted_on=fitted_on, fitted_accuracy=float(np.mean(vote.predict(features) == y)))
        if accuracy:
            res["shifted_vote_accuracy"] = {name: a for name, a in accuracy.items() if name != "clean"}
    else:
        res.update(c=vote.c, vote_accuracy=float(np.mean(vote.predict(features) == y)),
                   vote_scores=f"fitted on {vote.fitted_on}")
    res["numbers"] = vote.classes * vote.n_features + vote.classes
    if args.record:
        write_vote(ckpt.folder, vote, recipe)
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    which = "" if perturbation.kind == "clean" else f" ({perturbation.name})"
    print(f"{res['images']} {args.split} images{which}: lookup-only {100 * res['plain_accuracy']:.2f}%, with the learned vote "
          f"{100 * res['vote_accuracy']:.2f}% ({res['vote_scores']}; C = {res['c']:g}, k = {k}, "
          f"{res['numbers']} fitted numbers)")
    if args.fit:
        pooled = " (pooled over the clean and shifted digits)" if "shifted_vote_accuracy" in res else ""
        print(f"  out-of-fold accuracy by C{pooled}: "
              + ", ".join(f"{c}: {100 * a:.2f}%" for c, a in res["curve"].items()))
        for name, a in res.get("shifted_vote_accuracy", {}).items():
            print(f"  {name}, out of fold: {100 * a:.2f}%")
        print(f"  on the images it was fitted on: {100 * res['fitted_accuracy']:.2f}%")
    if args.record:
        print(f"  recorded the vote in {ckpt.folder / vote_file(recipe)}")
    return 0
