"""Row budgets without distilling again: a budget's table is a prefix of the full table.

:func:`mbi.memory.lut.build_table` keeps rows in the order their (step, key) first
occurs while the training images are replayed in a seeded order, and a budget
of ``N`` rows keeps the first ``N`` of them. So the table distilled with a
budget of ``N`` rows equals the first ``N`` rows of the full table of the same
seed (same keys, values, steps, sources and hit counts; tested against
``build_table``). :func:`table_prefix` cuts it; :func:`budget_curve` scores
lookup-only accuracy for several budgets and weightings (paper Fig. 4(a))
on the same images, reporting each budget's storage; :func:`cached_budget_curve`
keeps that curve on disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import LookupTable
from mbi.model.ram import RAM
from mbi.store import artifacts_root, atomic_write_json, cache_limits, prune_oldest, read_json

Weights = tuple[float, float, float]


def table_prefix(table: LookupTable, rows: int) -> LookupTable:
    """The first ``rows`` rows of ``table``: the table a budget of ``rows`` rows would have distilled."""
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)):
        raise TypeError(f"rows must be an int, got {type(rows).__name__}")
    if rows < table.num_glimpses:
        raise ValueError(f"rows must be at least {table.num_glimpses} (one per glimpse step), got {rows}")
    if rows >= len(table):
        return table
    meta = dict(table.meta, rows_budget=int(rows), prefix_of=len(table))
    cut = {f.name: getattr(table, f.name)[:rows] for f in dataclasses.fields(table)
           if isinstance(getattr(table, f.name), np.ndarray)}
    out = dataclasses.replace(table, **cut, meta=meta)
    missing = [t + 1 for t in range(table.num_glimpses) if not np.any(out.step == t)]
    if missing:
        raise ValueError(f"a budget of {rows} rows has no rows for glimpse steps {missing}; use a larger budget")
    return out


def budget_grid(total_rows: int, smallest: int = 1000, per_decade: Sequence[int] = (1, 3)) -> list[int]:
    """Budgets from ``smallest`` up to the whole table: 1, 3, 10, 30, ... thousand rows, then ``total_rows``."""
    if total_rows < 1:
        raise ValueError(f"total_rows must be positive, got {total_rows}")
    out, decade = [], 1
    while decade <= total_rows:
        out += [m * decade for m in per_decade if smallest <= m * decade < total_rows]
        decade *= 10
    return sorted(set(out)) + [int(total_rows)]


@dataclass(frozen=True)
class BudgetPoint:
    """Lookup-only accuracy of one row budget, for each named weighting."""

    rows: int
    storage_bytes: int  # bit-packed binary keys + values (LookupTable.storage_bytes()["total_binary"])
    storage_thermometer_bytes: int  # thermometer-coded keys + values (what the search array stores)
    accuracy: dict[str, float]

    def to_dict(self) -> dict:
        """Flat dict for a CSV row: ``accuracy_<name>`` per weighting."""
        out = {"rows": self.rows, "storage_bytes": self.storage_bytes,
               "storage_thermometer_bytes": self.storage_thermometer_bytes}
        out.update({f"accuracy_{k}": v for k, v in self.accuracy.items()})
        return out


def budget_curve(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray, budgets: Sequence[int],
                 weightings: Mapping[str, Sequence[float]],
                 progress: Callable[[float, str], None] | None = None) -> list[BudgetPoint]:
    """Lookup-only accuracy on ``images`` of each budget's prefix table, for each named weighting (exact search).

    ``progress(fraction, message)`` is called after each (budget, weighting); work is
    counted in rows searched, so the fraction tracks time.
    """
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not weightings:
        raise ValueError("give at least one weighting")
    budgets = sorted({min(int(b), len(table)) for b in budgets})
    total = float(sum(budgets) * len(weightings))
    done = 0.0
    points = []
    for rows in budgets:
        part = table_prefix(table, rows)
        storage = part.storage_bytes()
        acc = {}
        for name, weights in weightings.items():
            trace = lookup_infer(model, part, images, index=StepIndex(part, weights))
            acc[name] = float(np.mean(trace.prediction == labels))
            done += rows
            if progress:
                progress(done / total, f"{rows:,} rows, {name}: {100 * acc[name]:.2f}%")
        points.append(BudgetPoint(len(part), storage["total_binary"], storage["total_thermometer"], acc))
    return points


def cached_budget_curve(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray, images_id: str,
                        budgets: Sequence[int], weightings: Mapping[str, Sequence[float]],
                        progress: Callable[[float, str], None] | None = None,
                        root: Path | None = None) -> list[BudgetPoint]:
    """:func:`budget_curve`, kept as JSON in ``$MBI_HOME/budgets/`` under a digest of all it depends on
    (the folder capped like the trace cache: :func:`mbi.store.cache_limits`)."""
    settings = {"format": 1, "model": table.model_hash, "rows": len(table),
                "table_meta": {k: table.meta.get(k) for k in ("rows_budget", "seed", "train_images")},
                "images": images_id, "budgets": sorted({min(int(b), len(table)) for b in budgets}),
                "weightings": {k: [round(float(w), 12) for w in v] for k, v in sorted(weightings.items())}}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = (root or artifacts_root()) / "budgets" / f"{table.model_hash}-{digest}.json"
    if path.is_file():
        try:
            saved = read_json(path)
            return [BudgetPoint(int(p["rows"]), int(p["storage_bytes"]), int(p["storage_thermometer_bytes"]),
                                {k: float(v) for k, v in p["accuracy"].items()}) for p in saved["points"]]
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            pass  # damaged: compute again
    points = budget_curve(model, table, images, labels, budgets, weightings, progress)
    atomic_write_json(path, {"settings": settings, "points": [dataclasses.asdict(p) for p in points]})
    prune_oldest(path.parent, *cache_limits(), keep=path, pattern="*.json")
    return points


__all__ = ["BudgetPoint", "budget_curve", "budget_grid", "cached_budget_curve", "table_prefix"]
