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
from mbi.inference.robustness import perturbed_images_id
from mbi.inference.vote import (C_GRID, FIT_COMMAND, FOLDS, LearnedVote, choose_c, read_vote, vote_features,
                               vote_file, write_vote)
from mbi.memory.lut import table_fingerprint
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace


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
    res = {"images": int(len(y)), "dataset": ckpt.dataset, "split": args.split, "perturbation": perturbation.name,
           "k": k,
           "weights": [float(w) for w in weights], "plain_accuracy": float(np.mean(trace.prediction == y))}
    if vote is None:
        best, curve = choose_c(features, y, steps=table.num_glimpses, grid=args.c_grid)
        vote = LearnedVote.fit(features, y, steps=table.num_glimpses, k=k, c=best, table=table_fingerprint(table),
                               weights=weights, fitted_on=images_id, curve=curve)
        res.update(c=best, curve=curve, vote_accuracy=curve[f"{best:g}"],
                   vote_scores=f"out-of-fold ({FOLDS} folds of this split)",
                   fitted_accuracy=float(np.mean(vote.predict(features) == y)))
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
        print("  out-of-fold accuracy by C: " + ", ".join(f"{c}: {100 * a:.2f}%" for c, a in res["curve"].items()))
        print(f"  on the images it was fitted on: {100 * res['fitted_accuracy']:.2f}%")
    if args.record:
        print(f"  recorded the vote in {ckpt.folder / vote_file(recipe)}")
    return 0
