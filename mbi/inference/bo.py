"""Bayesian optimization of the distance weights a, b, c of eq. (1) (paper Sec. III-B).

Eq. (1) divides by (a + b + c), so only the ratios matter: a trial fixes
a = 1 and searches b/a and c/a on a log scale in :data:`mbi.search.weights.RATIO_RANGE`
([1e-2, 1e2]); reported weights are normalized to a + b + c = 1
(:func:`mbi.search.weights.from_ratios`). The objective is lookup-only accuracy on
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
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from mbi.search.weights import RATIO_RANGE, Weights, from_ratios

if TYPE_CHECKING:  # optuna, torch and the search are imported by the functions that run a search, so the
    import optuna  # trial summaries and weight helpers stay cheap for the dashboard

    from mbi.memory.lut import LookupTable
    from mbi.model.ram import RAM

def lookup_accuracy(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray,
                    weights: Sequence[float]) -> float:
    """Lookup-only accuracy of ``table`` with eq. (1) weights ``weights`` (exact search)."""
    from mbi.inference.lookup import StepIndex, lookup_infer

    trace = lookup_infer(model, table, images, index=StepIndex(table, weights))
    return float(np.mean(trace.prediction == np.asarray(labels)))


def trial_weights(trial: optuna.trial.FrozenTrial) -> Weights:
    """Normalized (a, b, c) of a trial's parameters ``b_over_a`` and ``c_over_a``."""
    return from_ratios(trial.params["b_over_a"], trial.params["c_over_a"])


@dataclass(frozen=True)
class StudySummary:
    """What a metric search found so far: its best completed trial and the unweighted one."""

    completed: int
    best_number: int
    best_weights: Weights
    best_accuracy: float
    unweighted_accuracy: float | None  # the first trial (a = b = c), when it completed

    @property
    def gain(self) -> float | None:
        """Best minus unweighted validation accuracy (None without the unweighted trial)."""
        return None if self.unweighted_accuracy is None else self.best_accuracy - self.unweighted_accuracy


def completed_trials(trials: Sequence[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The completed trials (with a value) of ``trials``, in order."""
    from optuna.trial import TrialState

    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def summarize(trials: Sequence[optuna.trial.FrozenTrial]) -> StudySummary | None:
    """The best of ``trials`` (completed ones; ties: the earliest) and the unweighted trial's accuracy.

    None when no trial completed.
    """
    done = completed_trials(trials)
    if not done:
        return None
    best = max(done, key=lambda t: (t.value, -t.number))
    unweighted = next((t.value for t in done if t.user_attrs.get("unweighted")), None)
    return StudySummary(len(done), best.number, trial_weights(best), float(best.value),
                        None if unweighted is None else float(unweighted))


def trial_table(trials: Sequence[optuna.trial.FrozenTrial]) -> list[dict]:
    """One row per completed trial: number, b/a, c/a, normalized a, b, c, validation accuracy, unweighted."""
    rows = []
    for t in completed_trials(trials):
        a, b, c = trial_weights(t)
        rows.append({"trial": t.number, "b/a": t.params["b_over_a"], "c/a": t.params["c_over_a"], "a": a, "b": b,
                     "c": c, "accuracy (val)": t.value, "unweighted": bool(t.user_attrs.get("unweighted", False))})
    return rows


@dataclass
class BOResult:
    """Outcome of a metric search."""

    best_weights: Weights
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
    import optuna

    from mbi.runs.studies import load_or_create, open_storage

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
        weights = from_ratios(params["b_over_a"], params["c_over_a"])
        trial.set_user_attr("weights", list(weights))
        return lookup_accuracy(model, table, val_images, val_labels, weights)

    remaining = max(0, n_trials - len(completed_trials(study.trials)))
    callbacks = [lambda st, tr: callback(tr)] if callback else None
    if remaining:
        study.optimize(objective, n_trials=remaining, callbacks=callbacks)
    summary = summarize(study.trials)
    if summary is None:
        raise ValueError(f"no trial of study {name!r} completed; see the errors above and run it again")
    return BOResult(summary.best_weights, summary.best_accuracy, summary.unweighted_accuracy, study)
