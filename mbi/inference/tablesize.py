"""Lookup accuracy versus table size, unweighted and with BO-chosen weights (paper Fig. 4(a)).

For each row budget N the table is built from the same replay of the training
split (first N distinct keys in a seeded random image order, see
:mod:`mbi.memory.lut`); the weights a, b, c are searched on validation images with
:func:`mbi.inference.bo.run_bo`; both the unweighted and the weighted metric are then
scored on ``eval`` images (the test split when reporting). Nothing about the
eval images feeds any choice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from mbi.inference.bo import lookup_accuracy, run_bo
from mbi.memory.lut import build_table, layout_of, record_episodes
from mbi.model.ram import RAM


@dataclass
class SizePoint:
    """One row budget of the Fig. 4(a) curve."""

    rows_budget: int | None
    rows: int
    storage_bytes: int
    unweighted_accuracy: float
    weighted_accuracy: float
    weights: tuple[float, float, float]
    val_unweighted: float | None
    val_weighted: float

    def to_dict(self) -> dict:
        """Plain dict for JSON/CSV."""
        return asdict(self)


def table_size_curve(
    model: RAM, model_hash: str, train_x: np.ndarray, val: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray], sizes: Sequence[int | None], bo_trials: int = 15,
    seed: int = 0, storage: str | Path | None = None, default_journal: str | Path = "artifacts/bo/bo.journal",
    progress: Callable[[str], None] | None = None,
) -> list[SizePoint]:
    """Unweighted vs BO-weighted lookup accuracy for each row budget in ``sizes`` (None = whole split)."""
    order = np.random.default_rng(seed).permutation(len(train_x))
    records = record_episodes(model, train_x)
    points = []
    for budget in sizes:
        table = build_table(records, layout_of(model), model_hash, budget, order,
                            meta={"rows_budget": budget, "seed": seed, "train_images": int(len(train_x))})
        bo = run_bo(model, table, val[0], val[1], n_trials=bo_trials, storage=storage, seed=seed,
                    study_name=f"bo-{model_hash}-{budget or 'all'}-seed{seed}-val{len(val[1])}",
                    default_journal=default_journal)
        point = SizePoint(
            rows_budget=budget, rows=len(table), storage_bytes=table.storage_bytes()["total_binary"],
            unweighted_accuracy=lookup_accuracy(model, table, evaluation[0], evaluation[1], (1.0, 1.0, 1.0)),
            weighted_accuracy=lookup_accuracy(model, table, evaluation[0], evaluation[1], bo.best_weights),
            weights=bo.best_weights, val_unweighted=bo.unweighted_accuracy, val_weighted=bo.best_accuracy,
        )
        points.append(point)
        if progress:
            progress(f"{point.rows} rows: unweighted {100 * point.unweighted_accuracy:.2f}%, "
                     f"BO-weighted {100 * point.weighted_accuracy:.2f}%")
    return points
