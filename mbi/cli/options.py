"""Command-line options generated from the config dataclasses, so every knob has a flag."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.store import read_json


def _parse_optional_int(text: str) -> int | None:
    if text.lower() in ("none", "float", "off"):
        return None
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from exc


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` plus one ``--field-name`` flag per RAMConfig/TrainConfig field."""
    parser.add_argument("--config", type=Path, help="JSON file {\"ram\": {...}, \"train\": {...}}; flags override it")
    for cls, title in ((RAMConfig, "RAM architecture (paper Fig. 3)"), (TrainConfig, "training")):
        group = parser.add_argument_group(title)
        for f in dataclasses.fields(cls):
            default = f.default
            kind: Any = type(default)
            if default is None or "None" in str(f.type):
                kind = _parse_optional_int
            group.add_argument(f"--{f.name.replace('_', '-')}", dest=f"{cls.__name__}.{f.name}", type=kind,
                               default=argparse.SUPPRESS, metavar=f.name.upper(), help=f"default {default}")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig from ``--config`` (if given) with flag overrides applied and validated."""
    source = getattr(args, "config", None)
    try:
        ram, train = (dict(part) for part in RunConfig.sections(read_json(source) if source else {}))
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    for key, value in vars(args).items():
        if key.startswith("RAMConfig."):
            ram[key.split(".", 1)[1]] = value
        elif key.startswith("TrainConfig."):
            train[key.split(".", 1)[1]] = value
    try:
        return RunConfig.from_dict({"ram": ram, "train": train})
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}" if source else str(exc)) from exc
