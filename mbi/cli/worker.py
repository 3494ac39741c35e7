"""``python -m mbi worker --storage URL``: run queued reproduction items of a shared study (any machine)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mbi.runs.reproduce import open_reproduction, work


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``worker`` command."""
    p = subparsers.add_parser("worker", help="work through the queued items of a reproduction's Optuna study")
    p.add_argument("--storage", required=True, help="RDB URL (postgresql://...) or journal file of the study")
    p.add_argument("--study", help="study name (needed only when the storage holds several reproductions)")
    p.add_argument("--out", type=Path, default=Path("reproduction"),
                   help="local folder for training runs and BO journals (default ./reproduction)")
    p.add_argument("--max-items", type=int, help="stop after this many items")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Pop and run items until the queue is empty."""
    study, cfg = open_reproduction(args.storage, args.out, args.study)
    ran = work(study, cfg, args.out, args.storage, max_items=args.max_items,
               on_done=lambda t: print(f"  done: {t.user_attrs.get('item')} ({t.state.name})", flush=True))
    print(f"ran {ran} item(s) of {study.study_name}")
    return 0
