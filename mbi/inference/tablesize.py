"""Lookup accuracy versus table size, unweighted and with BO-chosen weights (paper Fig. 4(a)).

*A budget's table is a prefix of the full table.* :func:`mbi.memory.lut.build_table` keeps rows
in the order their (step, key) first occurs while the training images are replayed in a seeded
order, and a budget of ``N`` rows keeps the first ``N`` of them. So the table distilled with a
budget of ``N`` rows equals the first ``N`` rows of the full table of the same seed (same keys,
values, steps, sources and hit counts; tested against ``build_table``): :func:`table_prefix` cuts it
without distilling again.

:func:`budget_curve` scores lookup-only accuracy of several budgets for named weightings on the
same images, with each budget's storage (from the largest budget down: :func:`narrower_trace` searches a smaller
prefix only where the larger one's answers do not carry over); :func:`cached_budget_curve` keeps that curve on disk (the
dashboard's Table size page). :func:`table_size_curve` is the paper's experiment (``python -m mbi
evaluate --lut-sizes``): per budget the weights a, b, c are searched on validation images with
:func:`mbi.inference.bo.run_bo`, then the unweighted and the BO-weighted metric are scored with
:func:`budget_curve` on ``evaluation`` images (the test split when reporting). Nothing about the
evaluation images feeds any choice.

*The recipe trade-off.* A table with shifted replays (:class:`mbi.memory.recipe.TableRecipe`) holds 5x
or 9x the rows of the paper's table and follows shifted digits far better. :func:`recipe_point` sums
one recipe up (rows, storage, lookup-only and RAM accuracy per perturbation group, from
:func:`mbi.inference.robustness.robustness_rows`); ``python -m mbi recipes --record`` writes the
points to the checkpoint's ``recipes.json`` (:func:`write_recipe_tradeoff`), which the Table size page
shows (:func:`read_recipe_tradeoff`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, MutableMapping, Sequence

import numpy as np

from mbi.inference.bo import run_bo
from mbi.config import RAMConfig
from mbi.inference.lookup import LookupTrace, StepIndex, lookup_episode, lookup_infer
from mbi.memory.lut import LookupTable, build_table, query_key, record_episodes, table_fingerprint
from mbi.model.sensor import GlimpseSensor
from mbi.search.distance import key_layout
from mbi.search.weights import UNWEIGHTED, Weights
from mbi.store import artifacts_root, atomic_write_json, cache_limits, prune_oldest, read_json

if TYPE_CHECKING:  # the curves take a loaded model (which brings torch); reading them does not
    from mbi.model.ram import RAM


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
    out = dataclasses.replace(table, **cut, meta=meta, step_keys=None)
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


def budget_curve(model: RAM | RAMConfig, table: LookupTable, images: np.ndarray, labels: np.ndarray,
                 budgets: Sequence[int], weightings: Mapping[str, Sequence[float]],
                 progress: Callable[[float, str], None] | None = None,
                 full_traces: MutableMapping[str, LookupTrace] | None = None) -> list[BudgetPoint]:
    """Lookup-only accuracy on ``images`` of each budget's prefix table, for each named weighting (exact search).

    Equal to :func:`mbi.inference.lookup.lookup_infer` on each :func:`table_prefix`, computed from the largest
    budget down (:func:`narrower_trace`: a smaller prefix searches only where the larger one's path differs or
    its match lies beyond the prefix), with one index build per prefix for all weightings
    (:meth:`mbi.search.exact.PrunedExact.reweighted`). ``full_traces`` (name -> the lookup trace of the whole
    ``table`` with that weighting, e.g. one read from the trace cache): entries present are used instead of
    computing them, and the ones computed here are added. ``progress(fraction, message)`` is called after each
    (budget, weighting).
    """
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not weightings:
        raise ValueError("give at least one weighting")
    budgets = sorted({min(int(b), len(table)) for b in budgets})
    full_traces = {} if full_traces is None else full_traces
    parts = {rows: table_prefix(table, rows) for rows in budgets}
    total = float(sum(budgets) * len(weightings))
    done = 0.0
    acc: dict[int, dict[str, float]] = {rows: {} for rows in budgets}
    wider: dict[str, LookupTrace] = {}
    for rows in reversed(budgets):
        part = parts[rows]
        built: StepIndex | None = None  # one build per prefix; the other weightings re-weight it
        for name, weights in weightings.items():
            if rows == len(table) and name in full_traces:
                trace = full_traces[name]
            else:
                index = StepIndex(part, weights) if built is None else built.reweighted(weights)
                built = built or index
                trace = (lookup_infer(model, part, images, index=index) if name not in wider
                         else narrower_trace(model, part, images, index, wider[name]))
            if rows == len(table):
                full_traces[name] = trace
            acc[rows][name] = float(np.mean(trace.prediction == labels))
            wider[name] = trace
            done += rows
            if progress:
                progress(done / total, f"{rows:,} rows, {name}: {100 * acc[rows][name]:.2f}%")
    points = []
    for rows in budgets:
        storage = parts[rows].storage_bytes()
        points.append(BudgetPoint(len(parts[rows]), storage["total_binary"], storage["total_thermometer"],
                                  {name: acc[rows][name] for name in weightings}))
    return points


def narrower_trace(model: RAM | RAMConfig, part: LookupTable, images: np.ndarray, index: StepIndex,
                   wider: LookupTrace) -> LookupTrace:
    """:func:`mbi.inference.lookup.lookup_infer` of ``images`` on ``part`` (a prefix of the table ``wider`` was
    looked up in, same weights, exact search), reusing ``wider``'s answers where they are exact.

    At each step an image whose state (hidden state and location) equals its state in ``wider`` issues the same
    query; when ``wider``'s match of it is a row of the prefix, that row is also the prefix's match (the nearest
    row of the larger set, ties to the lowest, lies in the subset), so only the other queries are searched.
    ``wider``: a :class:`LookupTrace` of the same ``images`` (``[B, T, ...]``); returns one like it.
    """
    cfg = model if isinstance(model, RAMConfig) else model.cfg
    if part.num_glimpses != cfg.num_glimpses:
        raise ValueError(f"table has {part.num_glimpses} glimpse steps but the model takes {cfg.num_glimpses}")
    if len(wider.rows) != len(images):
        raise ValueError(f"the wider trace has {len(wider.rows)} images, not {len(images)}")
    sensor = GlimpseSensor(model)
    layout, limit, n = part.layout, len(part), len(images)

    def answer(t: int, hidden: np.ndarray, loc: np.ndarray) -> tuple[np.ndarray, ...]:
        query = wider.queries[:, t].copy()
        moved = ~((loc == wider.locs[:, t]).all(axis=1) & (hidden == query[:, layout.hidden_cols]).all(axis=1))
        if moved.any():
            query[moved] = query_key(sensor.codes(images[moved], loc[moved], index.n_threads), hidden[moved],
                                     loc[moved])
        rows, dist = wider.rows[:, t].copy(), wider.distance[:, t].copy()
        comps = np.full(n, len(index.rows[t]), dtype=np.int64)
        ask = moved | (rows >= limit)
        if ask.any():
            rows[ask], dist[ask], comps[ask] = index.query(t, query[ask])
        return query, rows, dist, comps

    return lookup_episode(cfg, part, n, answer)


def _budget_settings(table: LookupTable, images_id: str, budgets: Sequence[int],
                     weightings: Mapping[str, Sequence[float]]) -> dict:
    return {"format": 2, "table": table_fingerprint(table), "images": images_id,
            "budgets": sorted({min(int(b), len(table)) for b in budgets}),
            "weightings": {k: [round(float(w), 12) for w in v] for k, v in sorted(weightings.items())}}


def budget_curve_path(table: LookupTable, images_id: str, budgets: Sequence[int],
                      weightings: Mapping[str, Sequence[float]], root: Path | None = None) -> Path:
    """Where :func:`cached_budget_curve` keeps this curve: ``budgets/`` under ``root`` (default ``$MBI_HOME``)."""
    settings = _budget_settings(table, images_id, budgets, weightings)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return (root or artifacts_root()) / "budgets" / f"{table.model_hash}-{digest}.json"


def read_budget_curve(path: str | Path) -> list[BudgetPoint] | None:
    """The curve :func:`cached_budget_curve` saved at ``path``, or None when it is missing or damaged."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        saved = read_json(path)
        return [BudgetPoint(int(p["rows"]), int(p["storage_bytes"]), int(p["storage_thermometer_bytes"]),
                            {k: float(v) for k, v in p["accuracy"].items()}) for p in saved["points"]]
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        return None  # damaged: compute again


def cached_budget_curve(model: RAM | RAMConfig, table: LookupTable, images: np.ndarray, labels: np.ndarray,
                        images_id: str, budgets: Sequence[int], weightings: Mapping[str, Sequence[float]],
                        progress: Callable[[float, str], None] | None = None, root: Path | None = None,
                        full_traces: MutableMapping[str, LookupTrace] | None = None) -> list[BudgetPoint]:
    """:func:`budget_curve` (``full_traces`` as there), kept as JSON in ``$MBI_HOME/budgets/`` under a digest of
    all it depends on (the folder capped like the trace cache: :func:`mbi.store.cache_limits`)."""
    path = budget_curve_path(table, images_id, budgets, weightings, root)
    saved = read_budget_curve(path)
    if saved is not None:
        return saved
    points = budget_curve(model, table, images, labels, budgets, weightings, progress, full_traces)
    atomic_write_json(path, {"settings": _budget_settings(table, images_id, budgets, weightings),
                             "points": [dataclasses.asdict(p) for p in points]})
    prune_oldest(path.parent, *cache_limits(), keep=path, pattern="*.json")
    return points


@dataclass
class SizePoint:
    """One row budget of the Fig. 4(a) curve."""

    rows_budget: int | None
    rows: int
    storage_bytes: int
    unweighted_accuracy: float
    weighted_accuracy: float
    weights: Weights
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
    """Unweighted vs BO-weighted lookup accuracy for each row budget in ``sizes`` (None = whole split).

    The training images are replayed once; each budget's table is a prefix of the full table.
    """
    order = np.random.default_rng(seed).permutation(len(train_x))
    full = build_table(record_episodes(model, train_x), key_layout(model.cfg), model_hash, None, order,
                       meta={"rows_budget": None, "seed": seed, "train_images": int(len(train_x))})
    points = []
    for budget in sizes:
        table = full if budget is None else table_prefix(full, int(budget))
        bo = run_bo(model, table, val[0], val[1], n_trials=bo_trials, storage=storage, seed=seed,
                    study_name=f"bo-{model_hash}-{budget or 'all'}-seed{seed}-val{len(val[1])}",
                    default_journal=default_journal)
        (scored,) = budget_curve(model, table, evaluation[0], evaluation[1], [len(table)],
                                 {"unweighted": UNWEIGHTED, "weighted": bo.best_weights})
        point = SizePoint(
            rows_budget=budget, rows=len(table), storage_bytes=scored.storage_bytes,
            unweighted_accuracy=scored.accuracy["unweighted"], weighted_accuracy=scored.accuracy["weighted"],
            weights=bo.best_weights, val_unweighted=bo.unweighted_accuracy, val_weighted=bo.best_accuracy,
        )
        points.append(point)
        if progress:
            progress(f"{point.rows} rows: unweighted {100 * point.unweighted_accuracy:.2f}%, "
                     f"BO-weighted {100 * point.weighted_accuracy:.2f}%")
    return points


RECIPES_FILE = "recipes.json"
"""The recorded recipe trade-off in a checkpoint folder (:func:`write_recipe_tradeoff`)."""


@dataclass(frozen=True)
class RecipePoint:
    """One table recipe: its size and its lookups on clean and perturbed digits (accuracies in 0..1).

    ``accuracy`` / ``ram_accuracy``: lookup-only and RAM accuracy per perturbation group (``"clean"``,
    ``"shift 1 px"``, ...: :attr:`mbi.inference.robustness.Perturbation.group`, directions pooled).
    """

    shifts: str
    rows: int
    storage_bytes: int  # binary keys + values
    storage_thermometer_bytes: int
    accuracy: dict[str, float]
    ram_accuracy: dict[str, float]

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def recipe_point(shifts: str, table: LookupTable, rows: Sequence) -> RecipePoint:
    """:class:`RecipePoint` of ``table`` (distilled with ``shifts``) from its robustness rows."""
    from mbi.inference.robustness import group_means

    storage = table.storage_bytes()
    groups = group_means(rows)
    return RecipePoint(shifts, len(table), storage["total_binary"], storage["total_thermometer"],
                       {g["group"]: g["lookup_accuracy"] for g in groups}, {g["group"]: g["ram_accuracy"] for g in groups})


def write_recipe_tradeoff(folder: str | Path, points: Sequence[RecipePoint], images: str,
                          weights: Sequence[float], command: str) -> Path:
    """Write ``points`` (measured on ``images``, e.g. ``"val:1000"``, with ``weights``) to ``FOLDER/recipes.json``."""
    return atomic_write_json(Path(folder) / RECIPES_FILE, {
        "images": images, "weights": [float(w) for w in weights], "command": command,
        "points": [p.to_dict() for p in points]})


def read_recipe_tradeoff(folder: str | Path) -> dict | None:
    """The recorded trade-off of a checkpoint (``points`` as :class:`RecipePoint`), or None when none is recorded."""
    path = Path(folder) / RECIPES_FILE
    if not path.is_file():
        return None
    data = read_json(path)
    try:
        points = [RecipePoint(str(p["shifts"]), int(p["rows"]), int(p["storage_bytes"]),
                              int(p["storage_thermometer_bytes"]), {str(k): float(v) for k, v in p["accuracy"].items()},
                              {str(k): float(v) for k, v in p["ram_accuracy"].items()}) for p in data["points"]]
        return {"images": str(data["images"]), "weights": [float(w) for w in data["weights"]],
                "command": str(data["command"]), "points": points}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is not a recorded recipe trade-off ({exc}); record it again with "
                         "`python -m mbi recipes CHECKPOINT --record`") from exc


__all__ = ["RECIPES_FILE", "BudgetPoint", "RecipePoint", "SizePoint", "budget_curve", "budget_curve_path",
           "budget_grid", "cached_budget_curve", "narrower_trace", "read_budget_curve", "read_recipe_tradeoff",
           "recipe_point", "table_prefix", "table_size_curve", "write_recipe_tradeoff"]
