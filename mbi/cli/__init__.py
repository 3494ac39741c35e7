"""The command line: ``python -m mbi COMMAND ...``.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to the function
that runs it (returning an exit code). Errors a user can fix (bad values, a
missing dataset, a corrupt file) are printed as one clear line, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("train", "evaluate", "sweep", "distill", "lookup", "gate", "robustness", "bo", "sram", "energy", "reproduce",
                   "worker", "example", "scaling", "recipes", "vote")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="python -m mbi", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"mbi.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; user errors exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is saved", file=sys.stderr)
        return 130
