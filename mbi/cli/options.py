"""Command-line options generated from the config dataclasses, so every knob has a flag."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.data import DATASET_NAMES, DEFAULT_DATASET, Dataset
from mbi.model.checkpoint import checkpoint_data, checkpoint_dataset, model_hash, resolve_checkpoint
from mbi.store import read_json

if TYPE_CHECKING:
    from mbi.memory.lut import LookupTable

CHECKPOINT_HELP = "run folder, 'default' (the shipped MNIST model) or 'fashion-mnist' (the shipped Fashion-MNIST one)"


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


def add_dataset_flags(parser: argparse.ArgumentParser, training: bool = False) -> None:
    """``--dataset NAME`` and ``--data-dir FOLDER`` for a command that reads images.

    With ``training`` the dataset is the one to learn (default mnist, recorded in the
    checkpoint); otherwise it defaults to the checkpoint's own and naming another is refused.
    """
    parser.add_argument(
        "--dataset", choices=DATASET_NAMES, default=argparse.SUPPRESS if training else None,
        help=f"images to train on (default {DEFAULT_DATASET}; recorded in the checkpoint)" if training else
        "images to work on (default: the checkpoint's own dataset; another one is refused)")
    parser.add_argument("--data-dir", type=Path,
                        help="folder with the dataset's four IDX files (default: $MBI_MNIST_DIR or "
                             "$MBI_FASHION_MNIST_DIR, else the installed package)")


def data_from_args(args: argparse.Namespace, checkpoint: str | Path | None) -> Dataset:
    """The images of ``checkpoint``'s dataset, checked against ``--dataset`` and read from ``--data-dir``."""
    return checkpoint_data(checkpoint, args.dataset, args.data_dir)


def table_from_args(table: Path | None, checkpoint: str | Path | None) -> "LookupTable":
    """The table ``--table`` names (refused when of another model or dataset), else the checkpoint's full table."""
    from mbi.memory.lut import cached_table, load_table

    folder = resolve_checkpoint(checkpoint)
    return load_table(table, model_hash(folder), checkpoint_dataset(folder)) if table else cached_table(folder)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig from ``--config`` (if given) with flag overrides (``--dataset`` included) applied
    and validated."""
    base = read_json(args.config) if getattr(args, "config", None) else {}
    ram = dict(base.get("ram", {}))
    train = dict(base.get("train", {}))
    for key, value in vars(args).items():
        if key.startswith("RAMConfig."):
            ram[key.split(".", 1)[1]] = value
        elif key.startswith("TrainConfig."):
            train[key.split(".", 1)[1]] = value
    dataset = getattr(args, "dataset", base.get("dataset", DEFAULT_DATASET))
    return RunConfig.from_dict({"ram": ram, "train": train, "dataset": dataset})
