"""``python -m mbi reproduce [--quick|--full]``: every paper figure as queued Optuna trials, then one report.

Enqueues the reproduction's items (once) in an Optuna study (journal ``OUT/reproduce.journal`` by
default, or ``--storage URL``), runs a worker in this process (``--workers N`` for more local
processes; ``python -m mbi worker --storage URL`` on other machines) and writes ``OUT/report.html``
(offline, interactive), ``OUT/summary.md`` and ``OUT/results.json`` from whatever is finished.
An interrupted run resumes without redoing finished items.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mbi.cli.options import run_workers
from mbi.runs.reproduce import (PROFILES, build_report, collect, export_images, open_reproduction, profile, start,
                           work)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` command."""
    p = subparsers.add_parser("reproduce", help="regenerate every figure of the paper and write an HTML report")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="profile", action="store_const", const="quick",
                   help="small sweeps and subsets, under 15 minutes on 2 cores (default)")
    g.add_argument("--full", dest="profile", action="store_const", const="full",
                   help="the real reproduction: shipped sweep specs, whole splits (hours)")
    g.add_argument("--profile", dest="profile", choices=sorted(PROFILES), help=argparse.SUPPRESS)
    p.set_defaults(profile="quick")
    p.add_argument("--storage", help="Optuna storage: RDB URL (postgresql://...) or journal file "
                                     "(default OUT/reproduce.journal)")
    p.add_argument("--study", help="study name (default reproduce-PROFILE)")
    p.add_argument("--out", type=Path, default=Path("reproduction"), help="output folder (default ./reproduction)")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--grace", type=float, default=900.0,
                   help="seconds without a heartbeat after which a RUNNING item counts as abandoned and is "
                        "queued again (default 900; 0 right after a crash when no other worker is alive)")
    p.add_argument("--report-only", action="store_true", help="run nothing; draw the report from finished items")
    p.add_argument("--images", type=Path, metavar="DIR",
                   help="also save every figure as DIR/<figure>.png (headless Chromium via Playwright)")
    p.add_argument("--set", dest="settings", help=argparse.SUPPRESS)  # JSON overrides of the profile (tests)
    p.set_defaults(func=run)


def _worker(storage: str | None, out: str, name: str) -> None:
    study, cfg = open_reproduction(storage, Path(out), name)
    work(study, cfg, Path(out), storage)


def run(args: argparse.Namespace) -> int:
    """Enqueue, work, report."""
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        overrides = json.loads(args.settings) if args.settings else None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--set expects a JSON object, got {args.settings!r}") from exc
    cfg = profile(args.profile, overrides)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        study, cfg = open_reproduction(args.storage, out, args.study)
    else:
        study, queued = start(cfg, out, args.storage, args.study, grace_s=args.grace)
        print(f"study {study.study_name}: {queued} item(s) queued", flush=True)

        def done(trial) -> None:
            print(f"  done: {trial.user_attrs.get('item')} ({trial.state.name})", flush=True)

        if args.workers == 1:
            work(study, cfg, out, args.storage, on_done=done)
        else:
            run_workers(_worker, (args.storage, str(out), study.study_name), args.workers)
    results = collect(study)
    paths = build_report(results, cfg, out)
    print(f"trials: {results['trials']}")
    for e in results["errors"]:
        print(f"  failed: {e['item']}: {e['error']}")
    print(f"wrote {paths['html']}, {paths['markdown']}, {paths['json']}")
    if args.images:
        images = export_images(paths["html"], args.images)
        print(f"wrote {len(images)} figure image(s) to {args.images}")
    return 0
