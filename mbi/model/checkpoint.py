"""Checkpoint folders: writing them atomically, loading them safely, and what they record.

Weights are plain state dicts read with ``torch.load(..., weights_only=True)``
(no arbitrary pickle); configuration, metrics and lookup settings are JSON beside them. A
corrupt or mismatched folder raises :class:`ValueError` with what to do.

:class:`Checkpoint` is a folder with everything read once (config, model, hash, metrics, lookup
settings, table, and the dataset its config records, whose images are the only ones it accepts); :class:`LookupSettings` is ``lookup.json`` typed, read and written only here.
torch is imported only by the functions that touch weights, so reading a
folder's configuration, metrics or lookup settings stays cheap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import numbers
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mbi.config import RunConfig
from mbi.data import Dataset, load_dataset, require_dataset
from mbi.memory.recipe import TableRecipe
from mbi.search.weights import UNWEIGHTED, Weights, check_weights
from mbi.store import DEFAULT_MODEL_DIR, FASHION_MODEL_DIR, atomic_write_bytes, atomic_write_json, read_json

SHIPPED_MODELS = ("default", "fashion-mnist")
"""Checkpoint names accepted wherever a run folder is: the shipped MNIST model and the Fashion-MNIST one."""

if TYPE_CHECKING:
    import torch

    from mbi.memory.lut import LookupTable
    from mbi.model.ram import RAM


def _tensor_bytes(obj: Any) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint_files(
    out: Path, cfg: RunConfig, model: RAM, optimizer: torch.optim.Optimizer, epoch: int,
    history: list[dict], best: float, improved: bool,
) -> None:
    """Write config, best weights (when ``improved``), last-epoch state and metrics, each atomically.

    ``last.pt`` holds all a resume needs (model, optimizer, epoch, history, best), so a run killed between
    these writes resumes from it alone; it is written after ``model.pt``, so it never records a best
    epoch whose weights are missing, and ``metrics.json`` (the readable copy) comes last.
    """
    import torch

    atomic_write_json(out / "config.json", cfg.to_dict())
    if improved or not (out / "model.pt").exists():
        atomic_write_bytes(out / "model.pt", _tensor_bytes(model.state_dict()))
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": torch.tensor(epoch),
             "history": history, "best_val_acc": best}
    atomic_write_bytes(out / "last.pt", _tensor_bytes(state))
    best_epoch = max((h for h in history if h.get("val_acc") is not None), key=lambda h: h["val_acc"], default=None)
    atomic_write_json(out / "metrics.json", {
        "epochs_done": epoch, "history": history, "best_val_acc": best,
        "best_epoch": best_epoch["epoch"] if best_epoch else None,
    })


class DamagedFileError(ValueError):
    """A checkpoint file cannot be used; ``path`` names it and the message says what is wrong, in our words."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = Path(path)


def read_weights(path: str | Path) -> Any:
    """What a ``.pt`` file written by this project holds (tensors, dicts, numbers), read weights-only.

    Raises :class:`DamagedFileError` saying which of three things is wrong: the file is not a
    PyTorch archive at all (truncated, zeroed, random or another kind of file), it holds Python
    objects other than tensors (never loaded: unpickling them could run code), or it is a damaged
    archive.
    """
    import torch

    p = Path(path)
    if not zipfile.is_zipfile(p):
        raise DamagedFileError(p, f"{p} could not be loaded: it is not a PyTorch weights file (truncated, "
                                  "overwritten or another kind of file)")
    try:
        return torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise DamagedFileError(p, f"{p} could not be loaded: it holds Python objects other than tensors and "
                                  "numbers, which are never loaded because they could run code; it was not "
                                  "written by MBI Explorer") from exc
    except Exception as exc:  # torch raises many kinds for a damaged archive
        raise DamagedFileError(p, f"{p} could not be loaded: the PyTorch archive is damaged "
                                  f"({type(exc).__name__})") from exc


def resolve_checkpoint(path: str | Path | None) -> Path:
    """The run folder for ``path``: a folder, its ``model.pt``, or a name of :data:`SHIPPED_MODELS`
    (``default``, ``fashion-mnist``); None means the shipped default model."""
    if path is None or str(path) == "default":
        return DEFAULT_MODEL_DIR
    if str(path) == "fashion-mnist":
        return FASHION_MODEL_DIR
    p = Path(path)
    if p.is_file() and p.name.endswith(".pt"):
        p = p.parent
    if not (p / "model.pt").is_file() or not (p / "config.json").is_file():
        raise FileNotFoundError(
            f"{p} is not a checkpoint folder (it needs model.pt and config.json); "
            "train one with `python -m mbi train --out FOLDER` or pass `default` or `fashion-mnist`"
        )
    return p


def load_config(path: str | Path | None) -> RunConfig:
    """The run configuration saved in a checkpoint folder (ValueError naming the file when it is not valid)."""
    file = resolve_checkpoint(path) / "config.json"
    data = read_json(file)
    try:
        return RunConfig.from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{file}: {exc}") from exc


def checkpoint_dataset(path: str | Path | None) -> str:
    """Name of the dataset a checkpoint was trained on (``mnist`` for configs saved before the field)."""
    return load_config(path).dataset


def checkpoint_data(path: str | Path | None, dataset: str | None = None,
                    data_dir: str | Path | None = None) -> Dataset:
    """The images a checkpoint works on: its own dataset, read from ``data_dir`` when given.

    ``dataset`` (what the user asked for, None when nothing was asked) must be the checkpoint's
    own; another one is refused with a :class:`ValueError` that says what to do.
    """
    own = checkpoint_dataset(path)
    if dataset is not None:
        require_dataset(f"model {resolve_checkpoint(path)}", own, dataset)
    return load_dataset(own, None if data_dir is None else str(data_dir))


def load_model(path: str | Path | None = None) -> RAM:
    """Rebuild the RAM of a checkpoint folder in eval mode (default: the shipped model)."""
    from mbi.model.ram import RAM

    folder = resolve_checkpoint(path)
    cfg = load_config(folder)
    model = RAM(cfg.ram)
    path = folder / "model.pt"
    try:
        load_weights_into(model, read_weights(path), path)
    except DamagedFileError as exc:
        raise DamagedFileError(path, f"{exc}; retrain the model or restore the file") from exc
    return model.eval()


def check_weights_file(path: str | Path | None = None) -> None:
    """A cheap check, without torch, that a checkpoint's ``model.pt`` is a complete torch archive (a zip
    holding ``data.pkl``); raises ValueError saying what to do. :func:`load_model` checks the rest."""
    weights = resolve_checkpoint(path) / "model.pt"
    try:
        with zipfile.ZipFile(weights) as archive:
            complete = any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        complete = False
    if not complete:
        raise ValueError(f"{weights} is not a complete torch weights file; the file is damaged: retrain or "
                         "restore it")


def load_weights_into(module: torch.nn.Module, state: Any, path: Path) -> None:
    """Load a state dict read from ``path`` into ``module``; :class:`DamagedFileError` when it does not fit."""
    if not isinstance(state, dict):
        raise DamagedFileError(path, f"{path} could not be loaded: it holds a {type(state).__name__}, not weights")
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise DamagedFileError(path, f"{path} could not be loaded: its weights do not fit the configuration in "
                                     f"config.json (it belongs to another model or is damaged)") from exc


def model_hash(path: str | Path | None = None) -> str:
    """SHA-256 (first 16 hex digits) of a checkpoint's weights and config: the identity tables refer to."""
    folder = resolve_checkpoint(path)
    digest = hashlib.sha256()
    digest.update((folder / "model.pt").read_bytes())
    digest.update((folder / "config.json").read_bytes())
    return digest.hexdigest()[:16]


def load_metrics(path: str | Path | None = None) -> dict:
    """metrics.json of a checkpoint folder ({} when absent)."""
    p = resolve_checkpoint(path) / "metrics.json"
    return read_json(p) if p.is_file() else {}


LOOKUP_FILE = "lookup.json"
SPLITS = ("val", "test")
"""Splits whose lookup accuracies ``lookup.json`` records."""


@dataclass(frozen=True)
class SplitRecord:
    """Accuracies measured with a checkpoint's lookup settings on one split (any may be unrecorded).

    Accuracies are fractions in [0, 1] as the CLI records them; hand-written files may hold percent.
    """

    images: int | None = None
    ram_accuracy: float | None = None
    lookup_accuracy: float | None = None
    mixed_accuracy: float | None = None
    mixed_lookup_share: float | None = None


_SPLIT_FIELDS = tuple(f.name for f in dataclasses.fields(SplitRecord))
_SPLIT_KEY = re.compile(rf"^({'|'.join(SPLITS)})_({'|'.join(_SPLIT_FIELDS)})$")
THRESHOLD_RULE = "largest lookup share with validation mixed accuracy >= min_accuracy"
"""How ``python -m mbi lookup --min-accuracy A --record`` chooses the threshold it records."""


def _number(where: str, name: str, value: Any, integer: bool = False) -> float | int:
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise ValueError(f"{where}: '{name}' must be {'an integer' if integer else 'a finite number'}, "
                         f"got {value!r}; fix or delete the file")
    return int(value) if integer else float(value)


GATE_ENTRIES = ("gate", "gate_thresholds", "vote_gate", "fallback")
"""The entries of a table's recorded mixed-MBI gates (:class:`RecordedGates`), in ``lookup.json`` or a gate file."""


def gate_file(recipe: TableRecipe) -> str:
    """The file beside a checkpoint that records the gates of its full table of ``recipe`` when that is not the
    checkpoint's own recipe (whose gates live in ``lookup.json``): ``gate.json`` for the paper's table,
    ``gate-shift1px.json`` for the table with one-pixel shifted replays (:attr:`TableRecipe.suffix`)."""
    return f"gate{recipe.suffix}.json"


@dataclass(frozen=True)
class RecordedGates:
    """The mixed-MBI gates recorded for one table of a checkpoint, as plain JSON (what ``python -m mbi gate --fit
    --record`` stores; :meth:`Checkpoint.gates` finds them for a table recipe).

    Attributes:
        gate: the learned gate (parsed by :class:`mbi.inference.gate.LearnedGate`), None when none is recorded.
        gate_thresholds: per gate ("distance", "learned", "learned-vote"), the threshold chosen on validation for
            each share answered by lookup ("0.8", ...).
        vote_gate: the learned gate of the table's recorded vote's answers, the same format as ``gate`` (parsed and
            tied to its vote by :func:`mbi.inference.votegate.recorded_vote_gate`).
        fallback: the fused fallback of mixed MBI (parsed by :class:`mbi.inference.fallback.FusedFallback`), None
            when the digits a gate sends away are answered by the RAM alone.
    """

    gate: Mapping[str, Any] | None = None
    gate_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    vote_gate: Mapping[str, Any] | None = None
    fallback: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "RecordedGates":
        """The :data:`GATE_ENTRIES` of ``data`` (other entries ignored); a ValueError naming ``where`` and the bad
        entry otherwise."""
        gate, vote_gate, fallback = data.get("gate"), data.get("vote_gate"), data.get("fallback")
        for name, value in (("gate", gate), ("vote_gate", vote_gate), ("fallback", fallback)):
            if value is not None and not isinstance(value, dict):
                raise ValueError(f"{where}: {name!r} must be a JSON object (a fitted "
                                 f"{'fallback' if name == 'fallback' else 'gate'}), got {value!r}")
        gate_thresholds = data.get("gate_thresholds", {})
        if not isinstance(gate_thresholds, dict) or not all(
                isinstance(v, dict) and all(isinstance(s, str) for s in v) for v in gate_thresholds.values()):
            raise ValueError(f"{where}: 'gate_thresholds' must map each gate to {{share: threshold}}, "
                             f"got {gate_thresholds!r}")
        gate_thresholds = {str(g): {s: _number(where, f"gate_thresholds.{g}.{s}", t) for s, t in v.items()}
                           for g, v in gate_thresholds.items()}
        return cls(gate=gate, gate_thresholds=gate_thresholds, vote_gate=vote_gate, fallback=fallback)

    def to_json(self) -> dict[str, Any]:
        """The recorded entries as plain JSON (unrecorded ones left out)."""
        out: dict[str, Any] = {}
        if self.gate is not None:
            out["gate"] = dict(self.gate)
        if self.gate_thresholds:
            out["gate_thresholds"] = {g: dict(v) for g, v in self.gate_thresholds.items()}
        if self.vote_gate is not None:
            out["vote_gate"] = dict(self.vote_gate)
        if self.fallback is not None:
            out["fallback"] = dict(self.fallback)
        return out


@dataclass(frozen=True)
class LookupSettings:
    """A checkpoint's ``lookup.json``: how its lookups are run and what they measured.

    Attributes:
        weights: eq. (1) weights (a, b, c) chosen for the table (None: not chosen, lookups use 1, 1, 1).
        threshold: mixed-MBI threshold chosen on validation, and ``threshold_rule``, how.
        table: the recipe the checkpoint's table is distilled with (:class:`TableRecipe`).
        table_rows, table_mb: size of the table the accuracies were measured on.
        splits: accuracies per split ("val", "test") measured with these settings.
        gate: the learned mixed-MBI gate as plain JSON numbers (parsed by
            :class:`mbi.inference.gate.LearnedGate`), and ``gate_thresholds``: per gate ("distance",
            "learned", "learned-vote"), the threshold chosen on validation for each share answered by lookup
            ("0.8", ...).
        vote_gate: the learned gate of the recorded vote's answers (``vote.json``), the same format as ``gate``
            (parsed and tied to its vote by :func:`mbi.inference.votegate.recorded_vote_gate`).
        fallback: the fused fallback of mixed MBI (:class:`mbi.inference.fallback.FusedFallback`), None: the RAM.

    On disk the layout is flat (``"val_lookup_accuracy"``, ``"test_mixed_lookup_share"``, ...), as
    :meth:`to_json` writes and :meth:`from_json` reads; nothing else reads or writes ``lookup.json``.
    """

    weights: Weights | None = None
    threshold: float | None = None
    threshold_rule: str | None = None
    table: TableRecipe = TableRecipe()
    table_rows: int | None = None
    table_mb: float | None = None
    splits: Mapping[str, SplitRecord] = field(default_factory=dict)
    gate: Mapping[str, Any] | None = None
    gate_thresholds: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    vote_gate: Mapping[str, Any] | None = None
    fallback: Mapping[str, Any] | None = None

    @property
    def gates(self) -> RecordedGates:
        """The gates recorded for the checkpoint's own table (recipe :attr:`table`)."""
        return RecordedGates(self.gate, self.gate_thresholds, self.vote_gate, self.fallback)

    @property
    def chosen_weights(self) -> Weights:
        """The weights lookups use: the chosen ones, else unweighted (1, 1, 1)."""
        return UNWEIGHTED if self.weights is None else self.weights

    def split(self, name: str) -> SplitRecord:
        """What was measured on split ``name`` (an empty record when nothing was)."""
        return self.splits.get(name, SplitRecord())

    @classmethod
    def from_json(cls, data: Any, where: str = LOOKUP_FILE) -> "LookupSettings":
        """Parse ``lookup.json``'s content; a ValueError naming ``where`` and the bad entry otherwise."""
        if not isinstance(data, dict):
            raise ValueError(f"{where} must hold a JSON object, got {type(data).__name__}; fix or delete the file")
        known = {"weights", "threshold", "threshold_rule", "table", "table_rows", "table_mb", *GATE_ENTRIES}
        unknown = sorted(k for k in data if k not in known and not _SPLIT_KEY.match(k))
        if unknown:
            raise ValueError(f"{where}: unknown entr{'y' if len(unknown) == 1 else 'ies'} {unknown}; valid: "
                             f"{sorted(known)} and <split>_<field> for split in {list(SPLITS)}, field in "
                             f"{list(_SPLIT_FIELDS)}")
        weights = data.get("weights")
        if weights is not None:
            if not isinstance(weights, list) or len(weights) != 3:
                raise ValueError(f"{where}: 'weights' must hold three numbers a, b, c, got {weights!r}")
            try:
                weights = check_weights([_number(where, "weights", w) for w in weights])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: 'weights' {weights!r} are not eq. (1) weights ({exc})") from exc
        rule = data.get("threshold_rule")
        if rule is not None and not isinstance(rule, str):
            raise ValueError(f"{where}: 'threshold_rule' must be text, got {rule!r}")
        try:
            table = TableRecipe.from_dict(data.get("table", {}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: 'table' {data.get('table')!r} is not a table recipe ({exc})") from exc
        splits: dict[str, dict[str, Any]] = {}
        for key, value in data.items():
            m = _SPLIT_KEY.match(key)
            if m:
                splits.setdefault(m.group(1), {})[m.group(2)] = _number(where, key, value, m.group(2) == "images")
        gates = RecordedGates.from_json(data, where)
        opt = lambda name, integer=False: (None if data.get(name) is None  # noqa: E731 - tiny local helper
                                           else _number(where, name, data[name], integer))
        return cls(weights=weights, threshold=opt("threshold"), threshold_rule=rule, table=table,
                   table_rows=opt("table_rows", True), table_mb=opt("table_mb"),
                   splits={k: SplitRecord(**v) for k, v in sorted(splits.items())},
                   gate=gates.gate, gate_thresholds=gates.gate_thresholds, vote_gate=gates.vote_gate,
                   fallback=gates.fallback)

    def to_json(self) -> dict[str, Any]:
        """The flat ``lookup.json`` layout (unrecorded entries and the paper's table recipe left out)."""
        out: dict[str, Any] = {}
        if self.weights is not None:
            out["weights"] = [float(w) for w in self.weights]
        for name in ("threshold", "threshold_rule", "table_rows", "table_mb"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.table != TableRecipe():
            out["table"] = self.table.to_dict()
        out.update(self.gates.to_json())
        for split, record in sorted(self.splits.items()):
            for name in _SPLIT_FIELDS:
                if getattr(record, name) is not None:
                    out[f"{split}_{name}"] = getattr(record, name)
        return dict(sorted(out.items()))

    @classmethod
    def read(cls, folder: Path) -> "LookupSettings":
        """``folder/lookup.json`` (empty settings when the file is absent)."""
        path = Path(folder) / LOOKUP_FILE
        return cls.from_json(read_json(path), str(path)) if path.is_file() else cls()

    def write(self, folder: Path) -> Path:
        """Write ``folder/lookup.json`` atomically."""
        return atomic_write_json(Path(folder) / LOOKUP_FILE, self.to_json())


def lookup_settings(path: str | Path | None = None) -> dict:
    """``lookup.json`` of a checkpoint folder as checked plain JSON ({} when absent), for display."""
    return LookupSettings.read(resolve_checkpoint(path)).to_json()


class Checkpoint:
    """A checkpoint folder and what it holds, each read at most once.

    ``Checkpoint(None)`` or ``Checkpoint("default")`` is the shipped default model, ``Checkpoint("fashion-mnist")``
    the shipped Fashion-MNIST one. The model, its hash,
    config, metrics and lookup settings load on first use; :meth:`table` gives its lookup table.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.folder = resolve_checkpoint(path)
        self.name = "default" if path is None else str(path)

    @classmethod
    def of(cls, checkpoint: "str | Path | None | Checkpoint") -> "Checkpoint":
        """``checkpoint`` itself when it is one, else the checkpoint of that folder."""
        return checkpoint if isinstance(checkpoint, Checkpoint) else cls(checkpoint)

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.folder)!r})"

    @cached_property
    def config(self) -> RunConfig:
        """The run configuration (``config.json``)."""
        return load_config(self.folder)

    @property
    def dataset(self) -> str:
        """Name of the dataset the model was trained on (``mnist`` for configs saved before the field)."""
        return self.config.dataset

    def data(self, dataset: str | None = None, data_dir: str | Path | None = None) -> Dataset:
        """The images this model works on (:func:`checkpoint_data`): its own dataset, from ``data_dir`` when
        given; another ``dataset`` asked for is refused."""
        return checkpoint_data(self.folder, dataset, data_dir)

    @cached_property
    def model(self) -> RAM:
        """The RAM in eval mode (loaded on first use)."""
        return load_model(self.folder)

    @cached_property
    def hash(self) -> str:
        """:func:`model_hash` of the folder: the identity its tables refer to."""
        return model_hash(self.folder)

    @cached_property
    def metrics(self) -> dict:
        """``metrics.json`` ({} when absent)."""
        return load_metrics(self.folder)

    @cached_property
    def lookup(self) -> LookupSettings:
        """The lookup settings (``lookup.json``; empty when absent)."""
        return LookupSettings.read(self.folder)

    def save_lookup(self, settings: LookupSettings) -> None:
        """Record ``settings`` as this checkpoint's ``lookup.json``."""
        settings.write(self.folder)
        self.__dict__["lookup"] = settings

    def gates(self, recipe: TableRecipe | None = None) -> RecordedGates:
        """The mixed-MBI gates recorded for this checkpoint's full table of ``recipe`` (None: its own recipe): those
        in ``lookup.json`` for its own recipe, else those of :func:`gate_file` (none recorded when it is absent; a
        damaged file is a ValueError naming it). A gate fitted on one table is never found for another."""
        if recipe is None or recipe == self.lookup.table:
            return self.lookup.gates
        path = self.folder / gate_file(recipe)
        if not path.is_file():
            return RecordedGates()
        data = read_json(path)
        if not isinstance(data, dict) or set(data) - set(GATE_ENTRIES):
            raise ValueError(f"{path} must hold a JSON object with entries among {list(GATE_ENTRIES)}; fix or delete "
                             "the file")
        return RecordedGates.from_json(data, str(path))

    def save_gates(self, gates: RecordedGates, recipe: TableRecipe | None = None) -> Path:
        """Record ``gates`` for this checkpoint's full table of ``recipe`` (None: its own) where :meth:`gates`
        finds them, atomically; returns the file written."""
        if recipe is None or recipe == self.lookup.table:
            self.save_lookup(dataclasses.replace(self.lookup, gate=gates.gate, gate_thresholds=gates.gate_thresholds,
                                                 vote_gate=gates.vote_gate, fallback=gates.fallback))
            return self.folder / LOOKUP_FILE
        return atomic_write_json(self.folder / gate_file(recipe), gates.to_json())

    def table(self, path: str | Path | None = None, rows: int | None = None, seed: int = 0,
              progress: Callable[[float], None] | None = None) -> "LookupTable":
        """The lookup table: the file ``path`` (refused unless distilled from this model and its dataset), else the
        full table of the checkpoint's recipe (shipped, cached or distilled now; see
        :func:`mbi.memory.lut.cached_table`), or its ``rows``/``seed`` budget."""
        from mbi.memory.lut import cached_table, load_table

        if path is not None:
            return load_table(path, self.hash, self.dataset)
        return cached_table(self, rows=rows, seed=seed, progress=progress)
