"""``python -m mbi bo [CHECKPOINT]``: Bayesian search of the eq. (1) weights on validation images."""

from __future__ import annotations

import argparse

from mbi.cli.options import add_lookup_options, checkpoint_of, images_of, table_of
from mbi.inference.bo import run_bo
from mbi.store import artifacts_root


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bo`` command."""
    p = subparsers.add_parser("bo", help="Optuna (GP) search of the distance weights a, b, c on validation data")
    add_lookup_options(p, splits=None, images=2000, images_flag="--val-images", weights=False, tree=False)
    p.add_argument("--trials", type=int, default=30, help="total trials in the study (resumes up to this)")
    p.add_argument("--storage", help="RDB URL or journal path (default ARTIFACTS/bo/bo.journal)")
    p.add_argument("--study", help="study name (default bo-MODELHASH-ROWSrows)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run (or resume) the study and print the best weights."""
    ckpt = checkpoint_of(args)
    table = table_of(args, ckpt)
    x, y = images_of(args, ckpt)

    def show(trial) -> None:
        w = trial.user_attrs.get("weights", [])
        print(f"trial {trial.number:3d}: a,b,c = {', '.join(f'{v:.3f}' for v in w)} -> "
              f"validation lookup accuracy {100 * (trial.value or 0):.2f}%")

    res = run_bo(ckpt.model, table, x, y, args.trials, args.storage, args.study, args.seed,
                 default_journal=artifacts_root() / "bo" / "bo.journal", callback=show)
    a, b, c = res.best_weights
    print(f"best a,b,c = {a:.4f},{b:.4f},{c:.4f}: {100 * res.best_accuracy:.2f}% on {len(y)} validation images"
          + (f" (unweighted {100 * res.unweighted_accuracy:.2f}%)" if res.unweighted_accuracy is not None else ""))
    return 0
