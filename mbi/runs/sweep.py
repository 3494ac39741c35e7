"""Hyperparameter sweeps of the RAM (paper Fig. 3(a), (b), (c)).

A sweep spec (JSON) names a base :class:`~mbi.config.RunConfig` and the values
to try::

    {"name": "fig3a",
     "mode": "one-at-a-time",            # or "grid" (full product) or "search" (Optuna TPE)
     "base": {"ram": {...}, "train": {"epochs": 3, "train_limit": 10000}},
     "axes": {"num_glimpses": [2, 4, 6, 8], "patch_size": [2, 4, 6]},
     "n_trials": 20}                      # "search" mode only

``one-at-a-time`` varies one axis at a time around the base (how the paper's
Fig. 3 panels read); ``grid`` runs every combination; ``search`` lets Optuna's
TPE sampler pick ``n_trials`` combinations. Axis names are RAMConfig or
TrainConfig fields (``ram.`` / ``train.`` prefixes allowed; ``none`` in a bit
axis means float). Every trial is a short training whose objective is the
best deterministic *validation* accuracy; the test split is never touched.
Trials live in an Optuna storage (see :mod:`mbi.runs.studies`), each training in
its own resumable run folder, so an interrupted sweep picks up where it was.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
import pandas as pd

from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.store import read_json
from mbi.runs.studies import ITEM_ATTR, enqueue_missing, heartbeat, item_params, load_or_create, open_storage, run_worker

MODES = ("one-at-a-time", "grid", "search")
_RAM_FIELDS = {f.name for f in dataclasses.fields(RAMConfig)}
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep description (see the module docstring for the JSON form)."""

    name: str
    base: RunConfig
    axes: dict[str, list[Any]]
    mode: str = "one-at-a-time"
    n_trials: int = 20
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SweepSpec":
        """Parse and validate a spec dict; errors name the offending key."""
        unknown = sorted(set(data) - {"name", "base", "axes", "mode", "n_trials", "meta"})
        if unknown:
            raise ValueError(f"unknown sweep spec key(s) {unknown}")
        name = str(data.get("name", ""))
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ValueError(f"sweep 'name' must be 1-64 letters, digits, '_', '.', '-'; got {name!r}")
        mode = data.get("mode", "one-at-a-time")
        if mode not in MODES:
            raise ValueError(f"sweep 'mode' must be one of {MODES}, got {mode!r}")
        axes_in = data.get("axes") or {}
        if not isinstance(axes_in, dict) or not axes_in:
            raise ValueError("sweep 'axes' must map at least one config field to a list of values")
        axes = {}
        for raw, values in axes_in.items():
            axis = _canonical_axis(raw)
            if not isinstance(values, list) or not values:
                raise ValueError(f"axis {raw!r} needs a non-empty list of values")
            axes[axis] = [None if isinstance(v, str) and v.lower() in ("none", "float") else v for v in values]
        n_trials = data.get("n_trials", 20)
        if not isinstance(n_trials, int) or n_trials < 1:
            raise ValueError(f"'n_trials' must be a positive integer, got {n_trials!r}")
        return cls(name, RunConfig.from_dict(data.get("base", {})), axes, mode, n_trials, dict(data.get("meta", {})))

    @classmethod
    def load(cls, path: str | Path) -> "SweepSpec":
        """Read a spec from a JSON file."""
        return cls.from_dict(read_json(path))

    def items(self) -> list[dict[str, Any]]:
        """The work items (Optuna parameter dicts) of a grid or one-at-a-time sweep."""
        if self.mode == "one-at-a-time":
            return [{"axis": axis, "value": json.dumps(v)} for axis, values in self.axes.items() for v in values]
        if self.mode == "grid":
            names = list(self.axes)
            return [{"combo": json.dumps(dict(zip(names, combo)), sort_keys=True)}
                    for combo in itertools.product(*(self.axes[n] for n in names))]
        raise ValueError("a 'search' sweep has no fixed items; its trials are sampled")

    def config_for(self, overrides: dict[str, Any]) -> RunConfig:
        """The base config (its dataset included) with ``overrides`` ({axis: value}) applied and validated."""
        ram = self.base.ram.to_dict()
        tr = self.base.train.to_dict()
        for axis, value in overrides.items():
            section, name = axis.split(".", 1)
            (ram if section == "ram" else tr)[name] = value
        return RunConfig.from_dict({"ram": ram, "train": tr, "dataset": self.base.dataset})


def _canonical_axis(raw: str) -> str:
    if "." in raw:
        section, name = raw.split(".", 1)
        fields = _RAM_FIELDS if section == "ram" else _TRAIN_FIELDS if section == "train" else set()
        if name in fields:
            return raw
    elif raw in _RAM_FIELDS:
        return f"ram.{raw}"
    elif raw in _TRAIN_FIELDS:
        return f"train.{raw}"
    raise ValueError(f"unknown sweep axis {raw!r}; use a RAMConfig or TrainConfig field name")


def overrides_of(spec: SweepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Decode a trial's Optuna params back into {axis: value}."""
    if spec.mode == "one-at-a-time":
        return {params["axis"]: json.loads(params["value"])}
    if spec.mode == "grid":
        return json.loads(params["combo"])
    return {axis: json.loads(params[axis]) for axis in spec.axes}


def default_storage(spec: SweepSpec, root: Path) -> Path:
    """Journal file of a sweep when no storage URL is given."""
    return root / "sweeps" / f"{spec.name}.journal"


def open_study(spec: SweepSpec, storage_url: str | None, root: Path) -> optuna.Study:
    """Create or load the sweep's study (maximizing validation accuracy)."""
    storage = open_storage(storage_url, default_storage(spec, root))
    sampler = optuna.samplers.TPESampler(seed=0) if spec.mode == "search" else None
    return load_or_create(storage, spec.name, direction="maximize", sampler=sampler)


def make_objective(spec: SweepSpec, runs_dir: Path, progress: Callable[[str], None] | None = None):
    """The Optuna objective: train the trial's config briefly, return best validation accuracy."""

    def objective(trial: optuna.Trial) -> float:
        from mbi.model.train import train  # torch: only a worker that trains imports it, not the page that lists

        if spec.mode == "search":
            params = {axis: trial.suggest_categorical(axis, [json.dumps(v) for v in values])
                      for axis, values in spec.axes.items()}
        else:
            params = item_params(trial)
            choices = _choices(spec)
            for name, value in params.items():  # record the queued params on the trial
                trial.suggest_categorical(name, choices[name])
        overrides = overrides_of(spec, params)
        trial.set_user_attr("overrides", json.dumps(overrides))
        cfg = spec.config_for(overrides)
        run_dir = runs_dir / spec.name / _slug(overrides)
        trial.set_user_attr("run_dir", str(run_dir))
        best = 0.0
        for ev in train(cfg, run_dir):
            if ev.best_val_acc is not None:  # also on "done" when a finished run is resumed
                best = ev.best_val_acc
            if ev.kind == "epoch":
                heartbeat(trial)
                if progress:
                    progress(f"{_slug(overrides)}: epoch {ev.epoch}/{ev.epochs} val {100 * (ev.val_acc or 0):.2f}%")
        trial.set_user_attr("epochs", cfg.train.epochs)
        return best

    return objective


def _choices(spec: SweepSpec) -> dict[str, list[str]]:
    """Every value each item parameter takes (Optuna needs one fixed choice list per parameter)."""
    out: dict[str, list[str]] = {}
    for item in spec.items():
        for name, value in item.items():
            out.setdefault(name, [])
            if value not in out[name]:
                out[name].append(value)
    return out


def _slug(overrides: dict[str, Any]) -> str:
    text = "_".join(f"{k.split('.', 1)[1]}-{v}" for k, v in sorted(overrides.items()))
    return re.sub(r"[^A-Za-z0-9_.-]", "", text) or "base"


def run_sweep(
    spec: SweepSpec, storage_url: str | None = None, root: Path = Path("artifacts"),
    progress: Callable[[str], None] | None = None, max_items: int | None = None,
) -> optuna.Study:
    """Enqueue the sweep's items (once) and work through them in this process.

    Several processes may call this on the same storage; each runs the items
    that remain. For ``search`` mode each process samples trials until the study
    holds ``n_trials`` finished or running ones.
    """
    study = open_study(spec, storage_url, root)
    objective = make_objective(spec, root / "runs", progress)
    if spec.mode == "search":
        while max_items is None or max_items > 0:
            states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.RUNNING)
            if len(study.get_trials(deepcopy=False, states=states)) >= spec.n_trials:
                break
            study.optimize(objective, n_trials=1, catch=(ValueError,))
            max_items = None if max_items is None else max_items - 1
        return study
    enqueue_missing(study, spec.items())
    run_worker(study, objective, max_items=max_items)
    return study


def results_table(spec: SweepSpec, study: optuna.Study) -> pd.DataFrame:
    """One row per finished or failed trial: axis values, validation accuracy, duration, state."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("spurious") or "duplicate_of" in t.user_attrs or "overrides" not in t.user_attrs:
            continue
        overrides = json.loads(t.user_attrs["overrides"])
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name}
        if spec.mode == "one-at-a-time":
            (axis, value), = overrides.items()
            row.update(axis=axis.split(".", 1)[1], value=value)
        else:
            row.update({k.split(".", 1)[1]: v for k, v in overrides.items()})
        row["val_acc"] = t.value
        row["duration_s"] = t.duration.total_seconds() if t.duration else None
        row["error"] = t.user_attrs.get("error")
        row[ITEM_ATTR] = t.user_attrs.get(ITEM_ATTR)
        rows.append(row)
    return pd.DataFrame(rows)
