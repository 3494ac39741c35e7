"""``python -m mbi distill CHECKPOINT``: distill a RAM into a lookup table (.npz)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from mbi.memory.lut import distill_recipe, save_table, table_path
from mbi.memory.recipe import READOUT_CHOICES, SHIFT_CHOICES, TableRecipe
from mbi.cli.options import add_checkpoint_option, checkpoint_of, data_of


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``distill`` command."""
    p = subparsers.add_parser("distill", help="distill a quantized RAM into a lookup table")
    add_checkpoint_option(p)
    p.add_argument("--rows", type=int, help="row budget N (default: every training image, all steps)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random image order (default 0)")
    p.add_argument("--shifts", choices=sorted(SHIFT_CHOICES), default="none",
                   help="also replay every training image shifted in each of the 4 directions: by one pixel "
                        "(1px: 5x the episodes) or by one and by two pixels (2px: 9x); default: none, the paper's "
                        "table")
    p.add_argument("--readout", choices=READOUT_CHOICES, default="ram",
                   help="class stored in each row: the RAM's own readout (default, the paper's) or the "
                        "training label of the row's source image")
    p.add_argument("--out", type=Path, help="output .npz (default: the table cache under ARTIFACTS/tables)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Distill, save, print size and storage."""
    ckpt = checkpoint_of(args)
    recipe = TableRecipe(args.shifts, args.readout)
    out = args.out or table_path(ckpt, args.rows, args.seed, recipe=recipe)
    bar = tqdm(total=100, desc="replaying training images", unit="%")
    data = data_of(args, ckpt)
    table = distill_recipe(ckpt.model, data.train_x, data.train_y, ckpt.hash, recipe,
                           rows=args.rows, seed=args.seed, progress=lambda f: bar.update(round(100 * f) - bar.n),
                           dataset=data.name)
    bar.close()
    save_table(table, out)
    size = table.storage_bytes()
    print(f"{len(table)} rows from {table.meta['images']} {data.info.title} training images "
          f"({table.meta['replayed_steps']} replayed steps, {table.meta['conflicts']} value conflicts)")
    print(f"storage packed: {size['total_binary'] / 1e6:.2f} MB with binary keys, "
          f"{size['total_thermometer'] / 1e6:.2f} MB with thermometer keys")
    print(f"wrote {out}")
    return 0
