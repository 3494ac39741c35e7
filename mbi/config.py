"""Every knob of the RAM and of its training, validated up front.

Each field maps to a hyperparameter of the paper (Fig. 3). ``__post_init__``
checks ranges and impossible combinations and raises a :class:`ValueError`
that names the field to change, so a bad value never reaches training.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from mbi.data import DEFAULT_DATASET, dataset_info

IMAGE_SIZE = 28
NUM_CLASSES = 10
HIDDEN_CODES = ("binary", "onehot")


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ValueError(f"{name} must be {rng}, got {value}")


def _check_float(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < lo or value > hi or (lo_open and value == lo):
        left = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {left}{lo}, {hi}], got {value}")


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
        _check_int("num_glimpses", self.num_glimpses, 1, 32)
        _check_int("patch_size", self.patch_size, 1, self.image_size)
        _check_int("glimpse_scale", self.glimpse_scale, 1, 8)
        _check_int("num_patches", self.num_patches, 1, 6)
        for name in ("glimpse_hidden", "loc_hidden", "glimpse_size", "hidden_size", "state_size"):
            _check_int(name, getattr(self, name), 1, 4096)
        _check_int("core_layers", self.core_layers, 0, 8)
        for name in ("patch_bits", "hidden_bits"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 1, 8)
        if self.hidden_code not in HIDDEN_CODES:
            raise ValueError(f"hidden_code must be one of {HIDDEN_CODES}, got {self.hidden_code!r}")
        if self.hidden_code == "onehot" and self.hidden_bits != 1:
            raise ValueError(f"hidden_code='onehot' is a 1-bit code: set hidden_bits=1 (got {self.hidden_bits})")
        _check_float("loc_std", self.loc_std, 0.0, 1.0, lo_open=True)
        _check_int("loc_grid", self.loc_grid, 2, self.image_size)
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

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1, 10_000)
        _check_int("batch_size", self.batch_size, 1, 65_536)
        _check_float("lr", self.lr, 0.0, 1.0, lo_open=True)
        _check_float("lr_min", self.lr_min, 0.0, self.lr)
        _check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_int("seed", self.seed, 0)
        _check_int("num_threads", self.num_threads, 1, 256)
        for name in ("train_limit", "val_limit"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        _check_float("reinforce_weight", self.reinforce_weight, 0.0, 100.0)
        _check_int("eval_every", self.eval_every, 1)
        _check_int("augment_shift", self.augment_shift, 0, 4)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Build from a dict, rejecting unknown keys with the list of valid ones."""
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Build from ``{"dataset": name, "ram": {...}, "train": {...}}`` (each part optional)."""
        unknown = sorted(set(data) - {"dataset", "ram", "train"})
        if unknown:
            raise ValueError(f"unknown config section(s) {unknown}; valid sections: ['dataset', 'ram', 'train']")
        return cls(RAMConfig.from_dict(data.get("ram", {})), TrainConfig.from_dict(data.get("train", {})),
                   data.get("dataset", DEFAULT_DATASET))
