"""Training the RAM: a generator of progress events, checkpoints written as it goes.

:func:`train` yields :class:`TrainEvent` objects (one per logged batch and one
per epoch); the CLI renders them as a progress bar, the dashboard as live
curves. Stopping early is simply closing the generator: every finished epoch
is already on disk. A run folder holds

- ``model.pt``: the state dict of the best epoch so far (by deterministic
  validation accuracy), loadable with ``torch.load(..., weights_only=True)``;
- ``last.pt``: model and optimizer state, epoch, history and best accuracy of the
  last finished epoch (also weights-only loadable), all a resume needs;
- ``config.json``: the :class:`~mbi.config.RunConfig`;
- ``metrics.json``: per-epoch history and the best validation accuracy.

Early stopping (``TrainConfig.patience``): training ends once that many validation evaluations in a
row do not beat the best one; the "done" event's ``epoch`` is the last epoch trained. The cosine
schedule still spans ``epochs``, so ``epochs`` is the budget and ``patience`` decides when to stop.

A run whose ``last.pt`` (or ``metrics.json``) is damaged does not resume: :class:`DamagedRunError`
names the file and the two ways on, ``start="best"`` (continue from ``model.pt`` at its epoch) or
``start="scratch"``; both first move the files they replace into ``before-restart-<time>/`` in the
run folder, so nothing is deleted.

Loss (Mnih et al. 2014, hybrid supervised + REINFORCE): NLL of the last
readout, plus the REINFORCE term ``-(R - b_t) log pi(l_t)`` with reward R = 1 for a
correct class, plus the squared error of the learned baseline ``b_t``.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Literal

import torch
import torch.nn.functional as F

from mbi.model.checkpoint import DamagedFileError, load_model, load_weights_into, read_weights, save_checkpoint_files
from mbi.config import RunConfig
from mbi.data import Dataset, load_dataset, require_dataset
from mbi.model.predict import accuracy, images_to_tensor
from mbi.model.ram import RAM
from mbi.store import read_json


@dataclass(frozen=True)
class TrainEvent:
    """Progress of a training run; ``kind`` says which fields are fresh."""

    kind: Literal["start", "batch", "epoch", "done"]
    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float | None = None
    train_acc: float | None = None
    val_acc: float | None = None
    best_val_acc: float | None = None
    elapsed_s: float = 0.0


def _shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Random translation of every image by up to ``max_shift`` pixels (zero fill), batched."""
    if max_shift == 0:
        return x
    b, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (b, 2), generator=generator)
    rows = (offsets[:, 0:1] + torch.arange(h))[:, :, None]
    cols = (offsets[:, 1:2] + torch.arange(w))[:, None, :]
    return padded[torch.arange(b)[:, None, None], rows, cols]


def loss_terms(
    model: RAM, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, reinforce_weight: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hybrid loss of one batch (sampled locations, M = 1) and the batch's correct-prediction mask."""
    ep = model(x, sample=True, generator=generator)
    nll = F.cross_entropy(ep.logits, y)
    correct = (ep.logits.argmax(1) == y).float()
    if ep.baselines.shape[1] == 0:
        return nll, correct
    reward = correct[:, None].expand_as(ep.baselines)
    baseline_loss = F.mse_loss(ep.baselines, reward)
    advantage = reward - ep.baselines.detach()
    reinforce = -(ep.log_probs * advantage).sum(1).mean()
    return nll + baseline_loss + reinforce_weight * reinforce, correct


def evaluations_without_improvement(history: list[dict]) -> int:
    """Validation evaluations in ``history`` (per-epoch records) since the best one (early stopping's count)."""
    scores = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    if not scores:
        return 0
    best_at = max(range(len(scores)), key=lambda i: (scores[i], -i))  # the first epoch that reached the best
    return len(scores) - 1 - best_at


Start = Literal["last", "best", "scratch"]
START_CHOICES: tuple[Start, ...] = ("last", "best", "scratch")
"""Where :func:`train` starts in a folder that holds a run: its last epoch (``last.pt``), its best
checkpoint (``model.pt``, fresh optimizer state) or from scratch."""


class DamagedRunError(DamagedFileError):
    """A run cannot resume from ``last.pt``: which file is damaged, and where it can restart instead.

    ``best_epoch`` is the epoch of a readable ``model.pt`` to continue from (None when there is none).
    """

    def __init__(self, path: Path, reason: str, best_epoch: int | None) -> None:
        self.reason = reason
        self.best_epoch = best_epoch
        options = (f"continue from the last good checkpoint (model.pt, epoch {best_epoch}) or start again from "
                   "scratch" if best_epoch is not None else "start again from scratch (there is no readable "
                   "model.pt with its epoch to continue from)")
        super().__init__(path, f"cannot resume: {reason}. Nothing was deleted; you can {options}, which keeps "
                               f"the old files in {Path(path).parent / 'before-restart-<time>'}")


def _history(path: Path, doc: Any) -> tuple[list[dict], float]:
    """The per-epoch history and best validation accuracy that ``doc`` (read from ``path``) records."""
    history = doc.get("history") if isinstance(doc, dict) else None
    best = doc.get("best_val_acc") if isinstance(doc, dict) else None
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history) \
            or not isinstance(best, (int, float)) or isinstance(best, bool):
        raise DamagedFileError(path, f"{path} does not hold a training history")
    return history, float(best)


def _read_metrics(out: Path) -> dict[str, Any]:
    try:
        metrics = read_json(out / "metrics.json")
    except (FileNotFoundError, ValueError) as exc:
        raise DamagedFileError(out / "metrics.json", f"{out / 'metrics.json'} could not be read ({exc})") from exc
    _history(out / "metrics.json", metrics)
    return metrics


def best_checkpoint_epoch(out: str | Path, cfg: RunConfig) -> int | None:
    """The epoch of the run's ``model.pt`` when it and ``metrics.json`` are readable, else None."""
    out = Path(out)
    try:
        metrics = _read_metrics(out)
        load_weights_into(RAM(cfg.ram), read_weights(out / "model.pt"), out / "model.pt")
    except (DamagedFileError, FileNotFoundError):
        return None
    epoch = metrics.get("best_epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch >= 1 else None


def _resume_last(out: Path, cfg: RunConfig, model: RAM, optimizer: torch.optim.Optimizer) -> tuple[int, list, float]:
    """Load ``last.pt`` into ``model``/``optimizer``: (epoch, history, best) or DamagedRunError.

    The history comes from ``last.pt`` itself (so a run killed before its ``metrics.json`` was written
    resumes); a ``last.pt`` written before it held one falls back to ``metrics.json``.
    """
    path = out / "last.pt"
    try:
        state = read_weights(path)
        if not isinstance(state, dict) or not {"model", "optimizer", "epoch"} <= set(state):
            raise DamagedFileError(path, f"{path} does not hold a model, optimizer and epoch")
        load_weights_into(model, state["model"], path)
        try:
            optimizer.load_state_dict(state["optimizer"])
            epoch = int(state["epoch"])
        except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
            raise DamagedFileError(path, f"{path} holds an optimizer state or epoch that does not fit") from exc
        if not 0 <= epoch <= cfg.train.epochs:
            raise DamagedFileError(path, f"{path} says epoch {epoch}, outside 0..{cfg.train.epochs}")
        if "history" in state or "best_val_acc" in state:
            history, best = _history(path, state)
        else:
            history, best = _history(out / "metrics.json", _read_metrics(out))
    except DamagedFileError as exc:
        raise DamagedRunError(exc.path, str(exc), best_checkpoint_epoch(out, cfg)) from exc
    return epoch, history[:epoch], best


def resume_problem(out: str | Path) -> DamagedRunError | None:
    """Why the run in ``out`` cannot resume from its last epoch (None when it can, or holds no run to resume).

    Reads the files only (no training): for a page that offers to continue a run.
    """
    out = Path(out)
    if not (out / "last.pt").is_file():
        return None
    try:
        cfg = RunConfig.from_dict(read_json(out / "config.json"))
    except (FileNotFoundError, ValueError) as exc:
        return DamagedRunError(out / "config.json", f"{out / 'config.json'} could not be read ({exc})", None)
    model = RAM(cfg.ram)
    try:
        _resume_last(out, cfg, model, _optimizer(model, cfg))
    except DamagedRunError as exc:
        return exc
    return None


def _keep_aside(out: Path, move: tuple[str, ...], copy: tuple[str, ...]) -> Path | None:
    """Move (or copy) the run's files that a restart replaces into ``out/before-restart-<time>/``."""
    present = [n for n in move + copy if (out / n).is_file()]
    if not present:
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    aside = out / f"before-restart-{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = out / f"before-restart-{stamp}-{n}"
    aside.mkdir()
    for name in present:
        (shutil.move if name in move else shutil.copy2)(str(out / name), str(aside / name))
    return aside


def _optimizer(model: RAM, cfg: RunConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)


def _lr_at(epoch: int, cfg: RunConfig) -> float:
    t = cfg.train
    return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1 + math.cos(math.pi * epoch / t.epochs))


def train(
    cfg: RunConfig,
    out_dir: str | Path,
    data: Dataset | None = None,
    start: Start = "last",
    log_every: int = 20,
) -> Iterator[TrainEvent]:
    """Train a RAM into ``out_dir``, yielding progress.

    ``start`` (see :data:`START_CHOICES`): ``"last"`` resumes from ``last.pt`` when present
    (:class:`DamagedRunError` when it or ``metrics.json`` cannot be read); ``"best"`` continues
    from ``model.pt`` at its epoch with a fresh optimizer state; ``"scratch"`` starts over. The
    files a restart replaces are first moved to ``before-restart-<time>/`` in ``out_dir``.

    Reproducible: the weights are initialised from ``seed``, and each epoch's
    data order and location noise come from generators seeded with
    ``(seed, epoch)``, so a resumed run follows the same path as an unbroken one.
    """
    if start not in START_CHOICES:
        raise ValueError(f"start must be one of {START_CHOICES}, got {start!r}")
    out = Path(out_dir)
    t0 = time.perf_counter()
    torch.set_num_threads(cfg.train.num_threads)
    data = data or load_dataset(cfg.dataset)
    require_dataset("this training configuration", cfg.dataset, data.name)
    tx, ty = data.train_x, data.train_y
    vx, vy = data.val_x, data.val_y
    if cfg.train.train_limit:
        tx, ty = tx[: cfg.train.train_limit], ty[: cfg.train.train_limit]
    if cfg.train.val_limit:
        vx, vy = vx[: cfg.train.val_limit], vy[: cfg.train.val_limit]
    x_train, y_train = images_to_tensor(tx), torch.from_numpy(ty)
    x_val = images_to_tensor(vx)

    torch.manual_seed(cfg.train.seed)
    model = RAM(cfg.ram)
    optimizer = _optimizer(model, cfg)
    history: list[dict] = []
    start_epoch = 0
    best = -1.0
    if start != "scratch" and ((out / "last.pt").is_file() or start == "best"):
        saved_cfg = RunConfig.from_dict(read_json(out / "config.json"))
        if saved_cfg.ram != cfg.ram or saved_cfg.dataset != cfg.dataset:
            raise ValueError(
                f"{out} holds a run with a different architecture or dataset; use another --out folder or --restart scratch"
            )
    if start == "last" and (out / "last.pt").is_file():
        start_epoch, history, best = _resume_last(out, cfg, model, optimizer)
    elif start == "best":
        epoch = best_checkpoint_epoch(out, cfg)
        if epoch is None:
            raise ValueError(f"{out} has no readable model.pt with its epoch in metrics.json to continue from; "
                             "start from scratch instead")
        history, best = _history(out / "metrics.json", _read_metrics(out))
        load_weights_into(model, read_weights(out / "model.pt"), out / "model.pt")
        start_epoch, history = epoch, history[:epoch]
        _keep_aside(out, move=("last.pt",), copy=("metrics.json", "model.pt"))
    elif start == "scratch":
        _keep_aside(out, move=("last.pt", "model.pt", "metrics.json"), copy=("config.json",))

    n = len(x_train)
    batches = math.ceil(n / cfg.train.batch_size)
    yield TrainEvent("start", start_epoch, cfg.train.epochs, 0, batches, best_val_acc=best if best >= 0 else None)
    last_epoch = start_epoch
    for epoch in range(start_epoch, cfg.train.epochs):
        if cfg.train.patience is not None and evaluations_without_improvement(history) >= cfg.train.patience:
            break  # early stopping (also when a stopped run is resumed)
        last_epoch = epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(epoch, cfg)
        gen = torch.Generator().manual_seed(cfg.train.seed * 100_003 + epoch)
        order = torch.randperm(n, generator=gen)
        model.train()
        loss_sum, correct_sum, seen = 0.0, 0.0, 0
        for b in range(batches):
            idx = order[b * cfg.train.batch_size: (b + 1) * cfg.train.batch_size]
            xb = _shift(x_train[idx], cfg.train.augment_shift, gen)
            loss, correct = loss_terms(model, xb, y_train[idx], gen, cfg.train.reinforce_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct_sum += float(correct.sum())
            seen += len(idx)
            if (b + 1) % log_every == 0:
                yield TrainEvent("batch", epoch + 1, cfg.train.epochs, b + 1, batches, loss=loss_sum / seen,
                                 train_acc=correct_sum / seen, elapsed_s=time.perf_counter() - t0)
        val_acc = None
        if (epoch + 1) % cfg.train.eval_every == 0 or epoch + 1 == cfg.train.epochs:
            val_acc = accuracy(model, x_val, vy)
        record = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct_sum / seen,
                  "val_acc": val_acc, "lr": _lr_at(epoch, cfg), "elapsed_s": time.perf_counter() - t0}
        history.append(record)
        improved = val_acc is not None and val_acc > best
        if improved:
            best = float(val_acc)
        save_checkpoint_files(out, cfg, model, optimizer, epoch + 1, history, best, improved)
        yield TrainEvent("epoch", epoch + 1, cfg.train.epochs, batches, batches, loss=record["train_loss"],
                         train_acc=record["train_acc"], val_acc=val_acc, best_val_acc=best,
                         elapsed_s=time.perf_counter() - t0)
    yield TrainEvent("done", last_epoch, cfg.train.epochs, batches, batches,
                     best_val_acc=best, elapsed_s=time.perf_counter() - t0)


def train_to_end(cfg: RunConfig, out_dir: str | Path, data: Dataset | None = None, start: Start = "last") -> RAM:
    """Run :func:`train` to completion and return the best model (by validation accuracy)."""
    for _ in train(cfg, out_dir, data=data, start=start):
        pass
    return load_model(out_dir)
