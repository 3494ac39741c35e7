"""Command-line options shared by the commands: the config dataclasses' flags (every knob has one) and
the dataset flags of every command that reads images, and the lookup commands' checkpoint, table, images,
weights and tree options with their loaders."""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mbi.config import RAMConfig, RunConfig, TrainConfig, TreeConfig
from mbi.data import DATASET_NAMES, DEFAULT_DATASET, Dataset, require_dataset
from mbi.memory.recipe import SHIFT_CHOICES, TableRecipe
from mbi.model.checkpoint import Checkpoint
from mbi.search.weights import Weights, parse_weights
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


def parse_floats(text: str) -> list[float]:
    """Comma-separated numbers, with an error that shows the bad item."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise ValueError(f"expected comma-separated numbers, got {text!r}") from exc


def number_list(flag: str, example: str, valid: Callable[[float], bool],
                rule: str) -> Callable[[str], tuple[float, ...]]:
    """An argparse ``type`` for ``flag``: comma-separated numbers (``example`` shows some), each passing ``valid``;
    ``rule`` says in words what passes (e.g. "fractions in (0, 1]")."""
    def parse(text: str) -> tuple[float, ...]:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes comma-separated numbers such as {example}, got {text!r}")
        if not values or not all(valid(v) for v in values):
            raise argparse.ArgumentTypeError(f"{flag} must hold {rule}, got {text!r}")
        return values

    return parse


def add_perturb_option(parser: argparse.ArgumentParser | Any, *, many: bool = False, default: str = "clean",
                       default_help: str = "clean") -> None:
    """``--perturb``: the perturbation applied to the images first, parsed into a ``Perturbation``
    (:func:`mbi.inference.robustness.parse_perturbation`), or with ``many`` a comma-separated list of them into a
    tuple (at least one).
    ``default`` is the flag's text when not given (argparse parses it only for the command that runs);
    ``default_help`` says it in words."""
    def parse(text: str) -> Any:
        from mbi.inference.robustness import parse_perturbation

        try:
            found = tuple(parse_perturbation(t) for t in text.split(",") if t.strip()) if many \
                else parse_perturbation(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
        if many and not found:
            raise argparse.ArgumentTypeError(f"--perturb names no perturbation, got {text!r}")
        return found

    forms = "clean, shift-up|down|left|right-PIXELS or noise-SIGMA[-seedN]"
    what = (f"comma-separated perturbations of the images: {forms}" if many
            else f"perturb the images first: {forms} (see `python -m mbi robustness`)")
    parser.add_argument("--perturb", default=default, type=parse, help=f"{what}; default: {default_help}")


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


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The RunConfig from ``--config`` (if given) with flag overrides (``--dataset`` included) applied
    and validated."""
    source = getattr(args, "config", None)
    try:
        ram, train, dataset = RunConfig.sections(read_json(source) if source else {})
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc
    ram, train = dict(ram), dict(train)
    for key, value in vars(args).items():
        if key.startswith("RAMConfig."):
            ram[key.split(".", 1)[1]] = value
        elif key.startswith("TrainConfig."):
            train[key.split(".", 1)[1]] = value
    dataset = getattr(args, "dataset", dataset)
    try:
        return RunConfig.from_dict({"ram": ram, "train": train, "dataset": dataset})
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}" if source else str(exc)) from exc


# ----------------------------------------------------------------------------- lookup inputs
# The options every lookup command shares (checkpoint, table, images, weights, tree) and their loaders.


def add_lookup_options(parser: argparse.ArgumentParser | Any, *, checkpoint_flag: bool = False,
                       splits: tuple[str, ...] | None = ("val", "test"), images: int | None = None,
                       images_flag: str = "--images", weights: bool = True, tree: bool = True,
                       table: bool = True) -> None:
    """Add the shared lookup options to ``parser`` (or an argument group of it).

    ``checkpoint_flag``: ``--checkpoint`` instead of a positional ``checkpoint``. ``splits``: the
    ``--split`` choices (the first is the default; None: validation only, no flag). ``images``: the
    default count of ``images_flag`` (None: the whole split). ``weights``, ``tree``, ``table``: whether
    to add ``--weights``, the k-means tree flags and ``--table``.
    """
    add_checkpoint_option(parser, flag=checkpoint_flag)
    if table:
        add_table_options(parser)
    if splits is not None:
        parser.add_argument("--split", choices=splits, default=splits[0], help="images to classify")
    parser.add_argument(images_flag, dest="images", type=int, default=images,
                        help="use the first N images of the split" + ("" if images is None else f" (default {images})"))
    parser.set_defaults(images_flag=images_flag)
    if weights:
        parser.add_argument("--weights", default="chosen",
                            help="a,b,c of eq. (1), or 'chosen' (the checkpoint's lookup.json, else 1,1,1)")
    if tree:
        add_tree_options(parser)


def add_table_options(parser: argparse.ArgumentParser | Any) -> None:
    """``--table FILE`` or ``--table-shifts none|1px|2px`` (the checkpoint's full table with those shifted replays)."""
    parser.add_argument("--table", type=Path,
                        help="table .npz of that checkpoint (default: its full table, cached or distilled now)")
    parser.add_argument("--table-shifts", choices=sorted(SHIFT_CHOICES),
                        help="the checkpoint's full table with shifted replays of every training digit: none (the "
                             "paper's table), 1px (also shifted by one pixel in 4 directions, 5x the rows) or 2px "
                             "(by one and by two pixels, 9x); distilled on first use and cached (default: the "
                             "checkpoint's own recipe)")


def add_checkpoint_option(parser: argparse.ArgumentParser | Any, flag: bool = False) -> None:
    """The checkpoint: a positional ``checkpoint`` (or ``--checkpoint`` with ``flag``), default the shipped model,
    with the ``--dataset``/``--data-dir`` of the images it reads (:func:`add_dataset_flags`)."""
    if flag:
        parser.add_argument("--checkpoint", default="default", help=CHECKPOINT_HELP)
    else:
        parser.add_argument("checkpoint", nargs="?", default="default", help=CHECKPOINT_HELP)
    add_dataset_flags(parser)


def add_tree_options(parser: argparse.ArgumentParser | Any) -> None:
    """``--branching``, ``--leaf-size`` and ``--checks`` of the k-means tree (defaults: :class:`TreeConfig`'s)."""
    defaults = TreeConfig()
    parser.add_argument("--branching", type=int, default=defaults.branching, help="k-means tree branching")
    parser.add_argument("--leaf-size", type=int, default=defaults.leaf_size, help="largest leaf (keys)")
    parser.add_argument("--checks", type=int, default=defaults.checks, help="leaves scanned per lookup")


def checkpoint_of(args: argparse.Namespace) -> Checkpoint:
    """The checkpoint named by ``args.checkpoint``; a ``--dataset`` naming another dataset than the checkpoint's
    own is refused here (ValueError), before any table or image is read."""
    checkpoint = Checkpoint(args.checkpoint)
    if getattr(args, "dataset", None) is not None:
        require_dataset(f"model {checkpoint.folder}", checkpoint.dataset, args.dataset)
    return checkpoint


def recipe_of(args: argparse.Namespace, checkpoint: Checkpoint) -> TableRecipe:
    """The recipe of the table the options name: the checkpoint's own (``lookup.json``; also for a ``--table`` file),
    or its own with the shifted replays of ``--table-shifts``."""
    path, shifts = getattr(args, "table", None), getattr(args, "table_shifts", None)
    if path is not None and shifts is not None:
        raise ValueError("--table names a table file and --table-shifts a recipe: pass one of them")
    own = checkpoint.lookup.table
    return own if shifts is None else dataclasses.replace(own, shifts=shifts)


def table_of(args: argparse.Namespace, checkpoint: Checkpoint) -> LookupTable:
    """``--table`` (refused unless distilled from ``checkpoint`` on its dataset), else the checkpoint's full table of its own
    recipe, or with the shifted replays of ``--table-shifts`` (:func:`recipe_of`)."""
    recipe = recipe_of(args, checkpoint)
    if recipe == checkpoint.lookup.table:
        return checkpoint.table(getattr(args, "table", None))
    from mbi.memory.lut import cached_table

    return cached_table(checkpoint, recipe=recipe)


def weights_of(args: argparse.Namespace, checkpoint: Checkpoint) -> Weights:
    """``--weights``: 'chosen' (the checkpoint's lookup settings, else 1,1,1) or a,b,c."""
    if args.weights == "chosen":
        return checkpoint.lookup.chosen_weights
    try:
        return parse_weights(args.weights)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--weights: {exc} (or 'chosen')") from exc


def tree_of(args: argparse.Namespace) -> TreeConfig:
    """The k-means tree settings of ``--branching``, ``--leaf-size`` and ``--checks``."""
    return TreeConfig(branching=args.branching, leaf_size=args.leaf_size, checks=args.checks)


def image_count(args: argparse.Namespace) -> int | None:
    """The image count option, checked (None: the whole split)."""
    if args.images is not None and args.images < 1:
        raise ValueError(f"{args.images_flag} must be >= 1, got {args.images}")
    return args.images


def data_of(args: argparse.Namespace, checkpoint: Checkpoint) -> Dataset:
    """The images of ``checkpoint``'s own dataset, read from ``--data-dir`` when given; a ``--dataset`` naming
    another is refused (ValueError)."""
    return checkpoint.data(args.dataset, args.data_dir)


def images_of(args: argparse.Namespace, checkpoint: Checkpoint) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) and labels (n,) of ``--split`` (validation without that flag) of ``checkpoint``'s dataset
    (:func:`data_of`), cut to the image count option."""
    count = image_count(args)
    x, y = data_of(args, checkpoint).split(getattr(args, "split", "val"))
    return (x, y) if count is None else (x[:count], y[:count])


def add_study_options(parser: argparse.ArgumentParser, default_journal: str, report_only: str) -> None:
    """``--storage``, ``--workers`` and ``--report-only`` of a command whose work items are one Optuna study."""
    parser.add_argument("--storage", help="Optuna storage: RDB URL (postgresql://...) or journal file path "
                                          f"(default {default_journal})")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    parser.add_argument("--report-only", action="store_true", help=report_only)


def run_workers(target: Callable[..., None], args: tuple, workers: int) -> None:
    """Call ``target(*args)`` here (``workers`` = 1) or in ``workers`` spawned processes, and wait for all of them.

    Each worker takes items of the same study until none is left, so the workers share the work without
    coordinating; ``target`` and ``args`` must be picklable (a module-level function and plain values).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"--workers must be an integer >= 1, got {workers!r}")
    if workers == 1:
        target(*args)
        return
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=target, args=args) for _ in range(workers)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
