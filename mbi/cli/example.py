"""``python -m mbi example [CHECKPOINT]``: precompute the Overview's first view (``example.json`` beside the weights)."""

from __future__ import annotations

import argparse

from mbi.cli.options import add_checkpoint_option, checkpoint_of, data_of
from mbi.model.gallery import write_example


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``example`` command."""
    p = subparsers.add_parser("example", help="precompute the dashboard Overview's first view of a model")
    add_checkpoint_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute and write ``example.json``; print where."""
    ckpt = checkpoint_of(args)
    path = write_example(ckpt.folder, data_of(args, ckpt))
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0
