"""``python -m mbi train``: train a RAM with a progress bar; resumable."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from mbi.cli.options import add_config_flags, add_dataset_flags, config_from_args
from mbi.config import RunConfig
from mbi.data import load_dataset
from mbi.model.train import DamagedRunError, train


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` command."""
    p = subparsers.add_parser("train", help="train a quantized RAM (resumes an interrupted run)")
    p.add_argument("--out", type=Path, default=Path("artifacts/runs/ram"), help="run folder (checkpoints, metrics)")
    p.add_argument("--restart", choices=("best", "scratch"), default=None,
                   help="do not resume --out's last epoch: continue from its best checkpoint (model.pt) or start "
                        "from scratch; the files this replaces are moved to OUT/before-restart-<time>/")
    add_dataset_flags(p, training=True)
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and print one line per epoch."""
    cfg = config_from_args(args)
    try:
        return _run(cfg, args)
    except DamagedRunError as exc:
        flags = "--restart best or --restart scratch" if exc.best_epoch is not None else "--restart scratch"
        raise ValueError(f"{exc} (rerun with {flags})") from exc


def _run(cfg: RunConfig, args: argparse.Namespace) -> int:
    bar = None
    data = load_dataset(cfg.dataset, None if args.data_dir is None else str(args.data_dir))
    for ev in train(cfg, args.out, data=data, start=args.restart or "last"):
        if ev.kind == "start":
            print(f"training on {data.info.title} into {args.out} (from epoch {ev.epoch}/{ev.epochs})")
            continue
        if bar is None or (ev.kind == "batch" and bar.n > ev.batch):
            if bar is not None:
                bar.close()
            bar = tqdm(total=ev.batches, desc=f"epoch {ev.epoch}/{ev.epochs}", unit="batch", leave=False)
        if ev.kind == "batch":
            bar.update(ev.batch - bar.n)
            bar.set_postfix(loss=f"{ev.loss:.3f}", acc=f"{ev.train_acc:.3f}")
        elif ev.kind == "epoch":
            bar.close()
            bar = None
            val = "-" if ev.val_acc is None else f"{100 * ev.val_acc:.2f}%"
            tqdm.write(f"epoch {ev.epoch:3d}/{ev.epochs}  loss {ev.loss:.4f}  train {100 * ev.train_acc:.2f}%  "
                       f"val {val}  best {100 * ev.best_val_acc:.2f}%  [{ev.elapsed_s:.0f}s]")
        elif ev.kind == "done":
            print(f"done: best validation accuracy {100 * ev.best_val_acc:.2f}%; weights in {args.out}/model.pt")
    return 0
