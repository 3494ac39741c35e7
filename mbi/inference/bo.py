"""Bayesian optimization of the distance weights a, b, c of eq. (1) (paper Sec. III-B).

Eq. (1) divides by (a + b + c), so only the ratios matter: a trial fixes
a = 1 and searches b/a and c/a on a log scale in [1e-2, 1e2]; reported weights
are normalized to a + b + c = 1. The objective is lookup-only accuracy on
*validation* images (the test split is never used), with exact brute-force
search. The first trial is always the unweighted metric (1, 1, 1), so the
study shows what weighting gains.

Sampler: Optuna's ``GPSampler`` (Gaussian-process BO with expected
improvement), the method the paper names; it suits a 2-dimensional,
continuous, expensive (seconds per evaluation) and nearly deterministic
objective far better than TPE, which needs many more trials to model a smooth
surface. Studies live in the same storages as sweeps (journal file or RDB
URL) and resume: rerunning adds only the trials still missing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import optuna

from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import LookupTable
from mbi.model.ram import RAM
from mbi.runs.studies import load_or_create, open_storage

RATIO_RANGE = (1e-2, 1e2)


def normalize(weights: tuple[float, float, float]) -> tuple[float, float, float]:
    """Scale (a, b, c) to sum to one (eq. (1) is invariant to a common factor)."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"weights must have a positive sum, got {weights}")
    return tuple(float(w) / total for w in weights)  # type: ignore[return-value]


def weights_of(params: dict[str, float]) -> tuple[float, float, float]:
    """Normalized (a, b, c) of a trial's parameters ``b_over_a`` and ``c_over_a``."""
    return normalize((1.0, float(params["b_over_a"]), float(params["c_over_a"])))


def lookup_accuracy(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray,
                    weights: tuple[float, float, float]) -> float:
    """Lookup-only accuracy of ``table`` with eq. (1) weights ``weights`` (exact search)."""
    trace = lookup_infer(model, table, images, index=StepIndex(table, weights))
    return float(np.mean(trace.prediction == np.asarray(labels)))


@dataclass
class BOResult:
    """Outcome of a metric search."""

    best_weights: tuple[float, float, float]
    best_accuracy: float
    unweighted_accuracy: float | None
    study: optuna.Study


def run_bo(
    model: RAM, table: LookupTable, val_images: np.ndarray, val_labels: np.ndarray, n_trials: int = 30,
    storage: str | Path | None = None, study_name: str | None = None, seed: int = 0,
    default_journal: str | Path = "artifacts/bo/bo.journal",
    callback: Callable[[optuna.trial.FrozenTrial], None] | None = None,
) -> BOResult:
    """Search a, b, c maximizing validation lookup accuracy; resumes a study of the same name."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    name = study_name or f"bo-{table.model_hash}-{len(table)}rows"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=min(8, n_trials),
                                            deterministic_objective=True)
    study = load_or_create(open_storage(storage, default_journal), name, direction="maximize", sampler=sampler)
    if not study.trials:
        study.enqueue_trial({"b_over_a": 1.0, "c_over_a": 1.0}, user_attrs={"unweighted": True})

    def objective(trial: optuna.Trial) -> float:
        params = {"b_over_a": trial.suggest_float("b_over_a", *RATIO_RANGE, log=True),
                  "c_over_a": trial.suggest_float("c_over_a", *RATIO_RANGE, log=True)}
        weights = weights_of(params)
        trial.set_user_attr("weights", list(weights))
        return lookup_accuracy(model, table, val_images, val_labels, weights)

    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    remaining = max(0, n_trials - done)
    callbacks = [lambda st, tr: callback(tr)] if callback else None
    if remaining:
        study.optimize(objective, n_trials=remaining, callbacks=callbacks)
    best = study.best_trial
    unweighted = [t.value for t in study.trials if t.user_attrs.get("unweighted") and t.value is not None]
    return BOResult(weights_of(best.params), float(best.value), unweighted[0] if unweighted else None, study)
