"""``python -m mbi sweep SPEC``: run a hyperparameter sweep (Fig. 3) in an Optuna storage."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from mbi.cli.options import add_study_options, run_workers
from mbi.store import artifacts_root, atomic_write_text
from mbi.runs.sweep import SweepSpec, open_study, results_table, run_sweep


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` command."""
    p = subparsers.add_parser("sweep", help="run a sweep spec (grid or Optuna search), resumable, multi-process")
    p.add_argument("spec", type=Path, help="sweep spec JSON (see mbi/specs/fig3a.json)")
    add_study_options(p, "ARTIFACTS/sweeps/NAME.journal", "do not train; print the table of what is finished")
    p.add_argument("--out", type=Path, help="write the results table here as .csv and .json")
    p.set_defaults(func=run)


def _worker(spec_path: str, storage: str | None, root: str) -> None:
    run_sweep(SweepSpec.load(spec_path), storage, Path(root), progress=tqdm.write)


def run(args: argparse.Namespace) -> int:
    """Run the sweep (unless --report-only), then print and optionally write the results."""
    spec = SweepSpec.load(args.spec)
    root = artifacts_root()
    if not args.report_only:
        run_workers(_worker, (str(args.spec), args.storage, str(root)), args.workers)
    table = results_table(spec, open_study(spec, args.storage, root))
    print(table.drop(columns=["item"], errors="ignore").to_string(index=False) if len(table) else "no trials yet")
    if args.out:
        atomic_write_text(args.out.with_suffix(".csv"), table.to_csv(index=False))
        atomic_write_text(args.out.with_suffix(".json"), table.to_json(orient="records", indent=2))
        print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.json')}")
    return 0
