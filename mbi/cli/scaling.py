"""``python -m mbi scaling [--spec FILE]``: the model-size family (RAMs sharing the key, growing network).

Trains, distills, tunes on validation and measures every member of the family (default
``mbi/specs/scaling.json``) as work items of one Optuna study (journal ``ARTIFACTS/scaling/NAME.journal``
by default, or ``--storage URL`` shared by workers on other machines), then writes
``ARTIFACTS/scaling/NAME/results.json`` and ``figure.html``. Interrupted runs resume without redoing a
finished member.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from mbi.cli.options import add_study_options, run_workers
from mbi.runs.scaling import ScalingSpec, collect, markdown_table, open_family, run_family, write_results
from mbi.store import SPECS_DIR, artifacts_root, atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scaling`` command."""
    p = subparsers.add_parser("scaling", help="lookup cost vs network size: train and measure a model-size family")
    p.add_argument("--spec", type=Path, default=SPECS_DIR / "scaling.json",
                   help="family spec JSON (default: the shipped mbi/specs/scaling.json)")
    add_study_options(p, "ARTIFACTS/scaling/NAME.journal", "train nothing; write the results of what is finished")
    p.add_argument("--grace", type=float, default=900.0,
                   help="seconds without a heartbeat after which a RUNNING member counts as abandoned and is "
                        "queued again (default 900; 0 right after a crash when no other worker is alive)")
    p.set_defaults(func=run)


def _worker(spec_path: str, storage: str | None, root: str, grace: float) -> None:
    run_family(ScalingSpec.load(spec_path), storage, Path(root), progress=tqdm.write, grace_s=grace)


def run(args: argparse.Namespace) -> int:
    """Run the family (unless --report-only), then print the per-member table and write results and figure."""
    from mbi.plots.scaling import model_size_figure
    from mbi.runs.scaling import summary

    spec = ScalingSpec.load(args.spec)
    root = artifacts_root()
    if not args.report_only:
        run_workers(_worker, (str(args.spec), args.storage, str(root), args.grace), args.workers)
    rows = collect(spec, open_family(spec, args.storage, root))
    print(f"{len(rows)} of {len(spec.members)} member(s) of {spec.name} finished")
    if rows:
        print(markdown_table(rows), end="")
    path = write_results(spec, rows, root)
    figure = model_size_figure(rows, summary(rows))
    html = atomic_write_text(path.with_name("figure.html"), figure.to_html(include_plotlyjs=True, full_html=True))
    print(f"wrote {path} and {html}")
    return 0
