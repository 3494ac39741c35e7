"""Every knob of the RAM, of its training and of the tree search, validated up front.

Each field maps to a hyperparameter of the paper (Fig. 3). ``__post_init__``
checks ranges and impossible combinations and raises a :class:`ValueError`
that names the field to change, so a bad value never reaches training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mbi.data import DEFAULT_DATASET, dataset_info
from mbi.validate import check_choice, check_int, check_number

IMAGE_SIZE = 28
NUM_CLASSES = 10
HIDDEN_CODES = ("binary", "onehot")


PATCH_RANGE = (0.0, 1.0)
"""The range of pixel values the retina's patch quantizer divides into ``2**patch_bits`` levels."""


@dataclass(frozen=True)
class RAMConfig:
    """Architecture of the recurrent attention model (paper Fig. 2 and 3).

    Glimpse ``t`` reads ``num_patches`` square patches centred on the current
    location; patch ``k`` covers ``patch_size * glimpse_scale**k`` pixels per side
    and is average-pooled down to ``patch_size``. Locations live on a
    ``loc_grid`` x ``loc_grid`` grid of pixel centres spanning the image, so a
    location is two small integers (a key component of the lookup table).

    ``hidden_code`` says how the hidden state is coded: ``"binary"`` (the paper:
    every one of the ``state_size`` units quantized to ``hidden_bits``) or
    ``"onehot"`` (1-bit units of which exactly one is on: the RAM becomes a
    finite-state machine with ``state_size`` states, which a lookup table covers
    far more densely; see RESULTS.md).
    """

    num_glimpses: int = 6
    patch_size: int = 4
    glimpse_scale: int = 2
    num_patches: int = 3
    glimpse_hidden: int = 128
    loc_hidden: int = 128
    glimpse_size: int = 256
    hidden_size: int = 256
    core_layers: int = 1
    state_size: int = 64
    patch_bits: int | None = 2
    hidden_bits: int | None = 1
    hidden_code: str = "binary"
    loc_std: float = 0.1
    loc_grid: int = 14
    image_size: int = IMAGE_SIZE

    def __post_init__(self) -> None:
        check_int("image_size", self.image_size, 1, 4096)
        check_int("num_glimpses", self.num_glimpses, 1, 32)
        check_int("patch_size", self.patch_size, 1, self.image_size)
        check_int("glimpse_scale", self.glimpse_scale, 1, 8)
        check_int("num_patches", self.num_patches, 1, 6)
        for name in ("glimpse_hidden", "loc_hidden", "glimpse_size", "hidden_size", "state_size"):
            check_int(name, getattr(self, name), 1, 4096)
        check_int("core_layers", self.core_layers, 0, 8)
        for name in ("patch_bits", "hidden_bits"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, 1, 8)
        check_choice("hidden_code", self.hidden_code, HIDDEN_CODES)
        if self.hidden_code == "onehot" and self.hidden_bits != 1:
            raise ValueError(f"hidden_code='onehot' is a 1-bit code: set hidden_bits=1 (got {self.hidden_bits})")
        check_number("loc_std", self.loc_std, 0.0, 1.0, lo_open=True)
        check_int("loc_grid", self.loc_grid, 2, self.image_size)
        if self.core_layers == 0 and self.state_size != self.hidden_size:
            raise ValueError(
                f"with core_layers=0 the core's output is the hidden state, so state_size must equal "
                f"hidden_size ({self.hidden_size}); got state_size={self.state_size}. "
                "Set core_layers >= 1 or state_size = hidden_size."
            )
        widest = self.largest_patch
        if widest > 4 * self.image_size:  # the retina zero-pads by `widest`; beyond 4x it sees mostly padding
            raise ValueError(
                f"the widest patch is patch_size * glimpse_scale**(num_patches-1) = {widest} px, more than 4x "
                f"the image ({4 * self.image_size} px), so it would see mostly zero padding; "
                "lower num_patches, glimpse_scale or patch_size"
            )

    @property
    def largest_patch(self) -> int:
        """Side in pixels of the widest (coarsest) patch of a glimpse."""
        return self.patch_size * self.glimpse_scale ** (self.num_patches - 1)

    @property
    def start_cell(self) -> int:
        """Grid index (the same for row and column) of the first glimpse: the grid's centre cell."""
        return (self.loc_grid - 1) // 2

    @property
    def patch_vector_len(self) -> int:
        """Number of elements of the quantized patch vector (one glimpse)."""
        return self.num_patches * self.patch_size**2

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RAMConfig":
        """Build from a dict, rejecting unknown keys with the list of valid ones."""
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """How a RAM is trained: optimizer, schedule, data and reproducibility."""

    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    lr_min: float = 1e-5
    weight_decay: float = 0.0
    seed: int = 0
    num_threads: int = 2
    train_limit: int | None = None
    val_limit: int | None = None
    reinforce_weight: float = 1.0
    eval_every: int = 1
    augment_shift: int = 0
    patience: int | None = None

    """``patience``: early stopping. Training stops once this many validation evaluations in a row
    bring no improvement of the best validation accuracy (``epochs`` is then the most it runs);
    None trains all ``epochs``."""

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs, 1, 10_000)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_number("lr", self.lr, 0.0, 1.0, lo_open=True)
        check_number("lr_min", self.lr_min, 0.0, self.lr)
        check_number("weight_decay", self.weight_decay, 0.0, 1.0)
        check_int("seed", self.seed, 0)
        check_int("num_threads", self.num_threads, 1, 256)
        for name in ("train_limit", "val_limit"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_number("reinforce_weight", self.reinforce_weight, 0.0, 100.0)
        check_int("eval_every", self.eval_every, 1)
        check_int("augment_shift", self.augment_shift, 0, 4)
        if self.patience is not None:
            check_int("patience", self.patience, 1, 10_000)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a dict, rejecting unknown keys with the list of valid ones."""
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TreeConfig:
    """Settings of the hierarchical k-means tree searched per glimpse step (paper Sec. III-C).

    A node of more than ``leaf_size`` keys is split by k-means into ``branching`` clusters; a
    query descends keeping the ``checks`` best nodes per level and scans the ``checks`` leaves it
    reaches (1: plain descent, the paper's search). ``seed`` draws k-means' initial centres.
    """

    branching: int = 4
    leaf_size: int = 32
    checks: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("branching", self.branching, 2)
        check_int("leaf_size", self.leaf_size, 1)
        check_int("checks", self.checks, 1)
        check_int("seed", self.seed, 0)

    def to_dict(self) -> dict[str, int]:
        """Plain dict for JSON and cache keys."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TreeConfig":
        """Build from a dict, rejecting unknown keys with the list of valid ones."""
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} must be a JSON object of fields, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {sorted(names)}")
    return cls(**data)


@dataclass(frozen=True)
class RunConfig:
    """A RAM architecture, how to train it, and the dataset it learns (what a checkpoint folder records).

    ``dataset`` is a name of :data:`mbi.data.DATASET_NAMES`; a config saved before datasets had
    names has no such field and is MNIST.
    """

    ram: RAMConfig = field(default_factory=RAMConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dataset: str = DEFAULT_DATASET

    def __post_init__(self) -> None:
        dataset_info(self.dataset)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON."""
        return {"dataset": self.dataset, "ram": self.ram.to_dict(), "train": self.train.to_dict()}

    @staticmethod
    def sections(data: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
        """The ``ram`` and ``train`` objects of a config document (each {} when absent) and its dataset name
        (:data:`DEFAULT_DATASET` when absent), checked for shape: ``data`` must be an object with no other keys,
        each section an object and the dataset a string."""
        if not isinstance(data, dict):
            raise ValueError(f'a run config must be a JSON object {{"dataset": ..., "ram": {{...}}, "train": {{...}}}}, '
                             f"got {type(data).__name__}")
        unknown = sorted(str(k) for k in set(data) - {"dataset", "ram", "train"})
        if unknown:
            raise ValueError(f"unknown config section(s) {unknown}; valid sections: ['dataset', 'ram', 'train']")
        parts = []
        for name in ("ram", "train"):
            part = data.get(name, {})
            if not isinstance(part, dict):
                raise ValueError(f"config section '{name}' must be a JSON object of fields, got {type(part).__name__}")
            parts.append(part)
        dataset = data.get("dataset", DEFAULT_DATASET)
        if not isinstance(dataset, str):
            raise ValueError(f"config field 'dataset' must be a dataset name (text), got {type(dataset).__name__}")
        return parts[0], parts[1], dataset

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Build from ``{"dataset": name, "ram": {...}, "train": {...}}`` (each part optional)."""
        ram, train, dataset = cls.sections(data)
        return cls(RAMConfig.from_dict(ram), TrainConfig.from_dict(train), dataset)
