"""Training the RAM: a generator of progress events, checkpoints written as it goes.

:func:`train` yields :class:`TrainEvent` objects (one per logged batch and one
per epoch); the CLI renders them as a progress bar, the dashboard as live
curves. Stopping early is simply closing the generator: every finished epoch
is already on disk. A run folder holds

- ``model.pt``: the state dict of the best epoch so far (by deterministic
  validation accuracy), loadable with ``torch.load(..., weights_only=True)``;
- ``last.pt``: model, optimizer and scheduler state of the last finished epoch
  (also weights-only loadable), used to resume;
- ``config.json``: the :class:`~mbi.config.RunConfig`;
- ``metrics.json``: per-epoch history and the best validation accuracy.

Early stopping (``TrainConfig.patience``): training ends once that many validation evaluations in a
row do not beat the best one; the "done" event's ``epoch`` is the last epoch trained. The cosine
schedule still spans ``epochs``, so ``epochs`` is the budget and ``patience`` decides when to stop.

Loss (Mnih et al. 2014, hybrid supervised + REINFORCE): NLL of the last
readout, plus the REINFORCE term ``-(R - b_t) log pi(l_t)`` with reward R = 1 for a
correct class, plus the squared error of the learned baseline ``b_t``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal

import torch
import torch.nn.functional as F

from mbi.model.checkpoint import load_model, save_checkpoint_files
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


def _lr_at(epoch: int, cfg: RunConfig) -> float:
    t = cfg.train
    return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1 + math.cos(math.pi * epoch / t.epochs))


def train(
    cfg: RunConfig,
    out_dir: str | Path,
    data: Dataset | None = None,
    resume: bool = True,
    log_every: int = 20,
) -> Iterator[TrainEvent]:
    """Train a RAM into ``out_dir``, yielding progress; resumes from ``last.pt`` when present.

    Reproducible: the weights are initialised from ``seed``, and each epoch's
    data order and location noise come from generators seeded with
    ``(seed, epoch)``, so a resumed run follows the same path as an unbroken one.
    """
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
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    history: list[dict] = []
    start_epoch = 0
    best = -1.0
    if resume and (out / "last.pt").is_file():
        saved_cfg = RunConfig.from_dict(read_json(out / "config.json"))
        if saved_cfg.ram != cfg.ram or saved_cfg.dataset != cfg.dataset:
            raise ValueError(
                f"{out} holds a run with a different architecture or dataset; use another --out folder or --no-resume"
            )
        state = torch.load(out / "last.pt", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch = int(state["epoch"])
        metrics = read_json(out / "metrics.json")
        history = metrics.get("history", [])[:start_epoch]
        best = float(metrics.get("best_val_acc", -1.0))

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


def train_to_end(cfg: RunConfig, out_dir: str | Path, data: Dataset | None = None, resume: bool = True) -> RAM:
    """Run :func:`train` to completion and return the best model (by validation accuracy)."""
    for _ in train(cfg, out_dir, data=data, resume=resume):
        pass
    return load_model(out_dir)
