"""``python -m mbi example [CHECKPOINT]``: precompute the Overview's first view (``example.json`` beside the weights)."""

from __future__ import annotations

import argparse

from mbi.data import load_mnist
from mbi.model.gallery import write_example


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``example`` command."""
    p = subparsers.add_parser("example", help="precompute the dashboard Overview's first view of a model")
    p.add_argument("checkpoint", nargs="?", default="default", help="run folder or 'default'")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and write ``example.json``; print where."""
    path = write_example(args.checkpoint, load_mnist())
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0
