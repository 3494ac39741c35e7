"""Checkpoint folders: writing them atomically and loading them safely.

Weights are plain state dicts read with ``torch.load(..., weights_only=True)``
(no arbitrary pickle); configuration and metrics are JSON beside them. A
corrupt or mismatched folder raises :class:`ValueError` with what to do.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import torch

from mbi.config import RunConfig
from mbi.data import Dataset, load_dataset, require_dataset
from mbi.model.ram import RAM
from mbi.store import DEFAULT_MODEL_DIR, FASHION_MODEL_DIR, atomic_write_bytes, atomic_write_json, read_json

SHIPPED_MODELS = ("default", "fashion-mnist")
"""Checkpoint names accepted wherever a run folder is: the shipped MNIST model and the Fashion-MNIST one."""


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
    """The run configuration saved in a checkpoint folder."""
    return RunConfig.from_dict(read_json(resolve_checkpoint(path) / "config.json"))


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
    folder = resolve_checkpoint(path)
    cfg = load_config(folder)
    model = RAM(cfg.ram)
    try:
        state = torch.load(folder / "model.pt", weights_only=True, map_location="cpu")
        model.load_state_dict(state)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise ValueError(
            f"{folder / 'model.pt'} could not be loaded as this RAM's weights ({type(exc).__name__}: "
            f"{str(exc)[:200]}); the file is damaged or belongs to another configuration: retrain or restore it"
        ) from exc
    return model.eval()


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


def lookup_settings(path: str | Path | None = None) -> dict:
    """``lookup.json`` of a checkpoint folder: chosen distance weights, mixed-MBI threshold and the
    accuracies measured with them (written by ``python -m mbi lookup --record``); {} when absent."""
    p = resolve_checkpoint(path) / "lookup.json"
    return read_json(p) if p.is_file() else {}
