"""Checkpoint folders: writing them atomically and loading them safely.

Weights are plain state dicts read with ``torch.load(..., weights_only=True)``
(no arbitrary pickle); configuration and metrics are JSON beside them. A
corrupt or mismatched folder raises :class:`ValueError` with what to do.
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from mbi.config import RunConfig
from mbi.model.ram import RAM
from mbi.store import DEFAULT_MODEL_DIR, atomic_write_bytes, atomic_write_json, read_json


def _tensor_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint_files(
    out: Path, cfg: RunConfig, model: RAM, optimizer: torch.optim.Optimizer, epoch: int,
    history: list[dict], best: float, improved: bool,
) -> None:
    """Write config, last-epoch state, best weights (when ``improved``) and metrics, each atomically.

    ``metrics.json`` is written last, so it never describes an epoch whose weights are missing.
    """
    atomic_write_json(out / "config.json", cfg.to_dict())
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": torch.tensor(epoch)}
    atomic_write_bytes(out / "last.pt", _tensor_bytes(state))
    if improved or not (out / "model.pt").exists():
        atomic_write_bytes(out / "model.pt", _tensor_bytes(model.state_dict()))
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
    """The run folder for ``path`` (a folder or its ``model.pt``); None means the shipped default model."""
    if path is None or str(path) == "default":
        return DEFAULT_MODEL_DIR
    p = Path(path)
    if p.is_file() and p.name.endswith(".pt"):
        p = p.parent
    if not (p / "model.pt").is_file() or not (p / "config.json").is_file():
        raise FileNotFoundError(
            f"{p} is not a checkpoint folder (it needs model.pt and config.json); "
            "train one with `python -m mbi train --out FOLDER` or pass `default`"
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


def load_model(path: str | Path | None = None) -> RAM:
    """Rebuild the RAM of a checkpoint folder in eval mode (default: the shipped model)."""
    folder = resolve_checkpoint(path)
    cfg = load_config(folder)
    model = RAM(cfg.ram)
    path = folder / "model.pt"
    try:
        load_weights_into(model, read_weights(path), path)
    except DamagedFileError as exc:
        raise DamagedFileError(path, f"{exc}; retrain the model or restore the file") from exc
    return model.eval()


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


TABLE_RECIPE_KEYS = frozenset({"shifts", "readout"})
"""Keys of ``lookup.json``'s ``"table"`` entry (the fields of :class:`mbi.memory.lut.TableRecipe`)."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _lookup_shape_problem(settings: Any) -> str | None:
    """Why a ``lookup.json`` document has the wrong shape for its readers (None when it is fine)."""
    if not isinstance(settings, dict):
        return f"it must be a JSON object, got {type(settings).__name__}"
    weights = settings.get("weights")
    if "weights" in settings and not (isinstance(weights, list) and len(weights) == 3
                                    and all(_finite(w) and w >= 0 for w in weights) and sum(weights) > 0):
        return f"'weights' must be three non-negative numbers a, b, c (not all 0), got {weights!r:.80}"
    threshold = settings.get("threshold")
    if "threshold" in settings and not (_finite(threshold) and threshold >= 0):
        return f"'threshold' must be a non-negative number, got {threshold!r:.80}"
    table = settings.get("table")
    if "table" in settings:
        if not isinstance(table, dict):
            return f"'table' must be an object like {{\"shifts\": \"none\", \"readout\": \"ram\"}}, got {table!r:.80}"
        unknown = sorted(str(k) for k in set(table) - TABLE_RECIPE_KEYS)
        if unknown or not all(isinstance(v, str) for v in table.values()):
            return (f"'table' may only hold text values for {sorted(TABLE_RECIPE_KEYS)}, got {table!r:.80}")
    return None


def lookup_settings(path: str | Path | None = None) -> dict:
    """``lookup.json`` of a checkpoint folder: chosen distance weights, mixed-MBI threshold and the
    accuracies measured with them (written by ``python -m mbi lookup --record``); {} when absent.

    A document of the wrong shape (not an object, weights that are not three numbers, a non-numeric
    threshold, an unknown key in ``table``) raises ValueError naming the file.
    """
    p = resolve_checkpoint(path) / "lookup.json"
    if not p.is_file():
        return {}
    settings = read_json(p)
    problem = _lookup_shape_problem(settings)
    if problem:
        raise ValueError(f"{p} is not valid lookup settings: {problem}; fix it, or delete it and record it again "
                         "with `python -m mbi lookup CHECKPOINT --thresholds auto --record`")
    return settings
