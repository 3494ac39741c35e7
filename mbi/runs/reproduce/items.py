"""The work items of a reproduction and their runners: one Optuna trial per item, its result as JSON.

:func:`work_items` turns a profile into items such as ``{"kind": "sweep", "figure": "fig3a",
"params": ...}``, ``{"kind": "tablesize", "size": 1000}``, ``{"kind": "tree"}``, ``{"kind": "mixed"}``,
``{"kind": "sram"}``, ``{"kind": "energy"}``, ``{"kind": "robustness"}``; :func:`make_objective` runs the trial's item and stores
its result as the JSON user attribute ``result`` of the trial.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna

from mbi.runs.reproduce.profiles import sweep_spec
from mbi.runs.studies import heartbeat, item_params

RESULT_ATTR = "result"


def work_items(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every work item of a reproduction (Optuna parameter dicts of plain values)."""
    items: list[dict[str, Any]] = []
    for figure in ("fig3a", "fig3b", "fig3c"):
        for params in sweep_spec(cfg, figure).items():
            items.append({"kind": "sweep", "figure": figure, "params": json.dumps(params, sort_keys=True)})
    items += [{"kind": "tablesize", "size": -1 if s is None else int(s)} for s in cfg["sizes"]]
    items += [{"kind": k} for k in ("tree", "mixed", "sram", "energy")]
    if cfg.get("scaling"):
        items.append({"kind": "scaling"})
    for row in DATASET_ROWS:
        if cfg.get(row):
            items += [{"kind": "tablesize", "size": -1 if s is None else int(s), "row": row} for s in cfg[row]["sizes"]]
            items += [{"kind": k, "row": row} for k in DATASET_ROW_KINDS]
    if cfg.get("robustness"):
        items.append({"kind": "robustness"})
    return items


DATASET_ROWS = ("fashion",)
"""Profile keys of the rows on another dataset than the default model's (``"fashion"``: Fashion-MNIST)."""

DATASET_ROW_KINDS = ("mixed", "gate")
"""The item kinds of such a row besides one ``tablesize`` item per table size."""


def row_config(cfg: dict[str, Any], row: str) -> dict[str, Any]:
    """The profile as a dataset row's items see it: its own checkpoint, table, images and BO trials (the profile's
    ``cfg[row]``) over the rest of the profile (seed, tree)."""
    return {**cfg, **cfg[row]}


# --------------------------------------------------------------------------- item runners


class ItemContext:
    """Lazily loaded model, table and data shared by the items one worker runs."""

    def __init__(self, cfg: dict[str, Any], out: Path) -> None:
        self.cfg, self.out = cfg, Path(out)
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def checkpoint(self):
        """The profile's :class:`mbi.model.checkpoint.Checkpoint` (model, hash and lookup settings, loaded once)."""
        from mbi.model.checkpoint import Checkpoint
        return self._get("checkpoint", lambda: Checkpoint(self.cfg["checkpoint"]))

    @property
    def model(self):
        return self.checkpoint.model

    @property
    def data(self):
        """The images of the checkpoint's own dataset (MNIST for the default model)."""
        return self._get("data", lambda: self.checkpoint.data())

    @property
    def train_x(self) -> np.ndarray:
        n = self.cfg["table_train_images"]
        return self.data.train_x if n is None else self.data.train_x[:n]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.data.split(name)
        n = self.cfg[f"{name}_images"]
        return x[:n], y[:n]

    @property
    def table(self):
        """The full table of the checkpoint (shipped/cached), or one distilled from the first N training images."""
        from mbi.memory.lut import distill

        def make():
            if self.cfg["table_train_images"] is None:
                return self.checkpoint.table()
            return distill(self.model, self.train_x, self.checkpoint.hash, seed=self.cfg["seed"],
                           dataset=self.checkpoint.dataset)
        return self._get("table", make)

    @property
    def ram(self) -> dict[str, Any]:
        """The checkpoint's RAM configuration (``config.json``), recorded with results the report describes."""
        return self.checkpoint.config.ram.to_dict()

    @property
    def weights(self) -> tuple[float, float, float]:
        return self.checkpoint.lookup.chosen_weights

    @property
    def tree(self):
        """The profile's k-means tree settings (:class:`mbi.config.TreeConfig`)."""
        from mbi.config import TreeConfig
        return TreeConfig.from_dict(self.cfg["tree"])


def run_sweep_item(ctx: ItemContext, trial: optuna.Trial, figure: str, params: dict[str, Any]) -> dict[str, Any]:
    """One Fig. 3 training, exactly as ``python -m mbi sweep`` trains that item."""
    from mbi.runs.sweep import _slug, overrides_of
    from mbi.model.train import train

    spec = sweep_spec(ctx.cfg, figure)
    overrides = overrides_of(spec, params)
    run_dir = ctx.out / "runs" / spec.name / _slug(overrides)
    best = 0.0
    for ev in train(spec.config_for(overrides), run_dir):
        if ev.kind == "epoch":
            heartbeat(trial)
        if ev.best_val_acc is not None:  # also on "done" when a finished run is resumed
            best = ev.best_val_acc
    row: dict[str, Any] = {"val_acc": best, "epochs": spec.base.train.epochs}
    if spec.mode == "one-at-a-time":
        (axis, value), = overrides.items()
        row.update(axis=axis.split(".", 1)[1], value=value)
    else:
        row.update({k.split(".", 1)[1]: v for k, v in overrides.items()})
    return row


def run_tablesize_item(ctx: ItemContext, trial: optuna.Trial, size: int | None, storage_url: str | None) -> dict:
    """One point of Fig. 4(a): :func:`mbi.inference.tablesize.table_size_curve` for one row budget (test split)."""
    from mbi.inference.tablesize import table_size_curve

    (point,) = table_size_curve(ctx.model, ctx.checkpoint.hash, ctx.train_x, ctx.split("val"), ctx.split("test"),
                                [size], bo_trials=ctx.cfg["bo_trials"], seed=ctx.cfg["seed"], storage=storage_url,
                                default_journal=ctx.out / "bo.journal")
    return point.to_dict()


def run_tree_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Fig. 4(c): k-means tree vs brute force on the queries a tree lookup issues on test images."""
    from mbi.inference.lookup import StepIndex, lookup_infer, tree_quality

    x, y = ctx.split("test")
    index = StepIndex(ctx.table, ctx.weights, "tree", tree=ctx.tree)
    heartbeat(trial)
    trace = lookup_infer(ctx.model, ctx.table, x, index=index)
    heartbeat(trial)
    quality = tree_quality(index, trace)
    return {**quality, "images": int(len(y)), "table_rows": int(len(ctx.table)), "tree": ctx.cfg["tree"],
            "tree_lookup_accuracy": float(np.mean(trace.prediction == y))}


def run_mixed_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Fig. 5: ``evaluate_lookup`` on test images (as ``python -m mbi lookup --split test --thresholds auto``)."""
    from mbi.inference.lookup import evaluate_lookup
    from mbi.model.checkpoint import LookupSettings

    x, y = ctx.split("test")
    settings = ctx.checkpoint.lookup if ctx.cfg["table_train_images"] is None else LookupSettings()
    chosen = settings.threshold
    res = evaluate_lookup(ctx.model, ctx.table, x, y, ctx.weights, "brute", "auto",
                          extra_thresholds=() if chosen is None else (float(chosen),))
    if chosen is not None:
        (point,) = [p for p in res["mixed"] if p["threshold"] == float(chosen)]
        res["at_chosen_threshold"] = {"chosen_threshold": float(chosen), **point,
                                      "threshold_rule": settings.threshold_rule,
                                      "val_mixed_accuracy": settings.split("val").mixed_accuracy}
    res["ram"] = ctx.ram
    return res


def run_gate_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Both gates of mixed MBI on test images with the checkpoint's recorded learned gate and thresholds, as
    ``python -m mbi gate CHECKPOINT --split test`` reports them (``"gates": None`` and the reason when it records no
    gate, or one fitted on another table than the item's)."""
    from mbi.inference.gate import LearnedGate
    from mbi.runs.gatecache import gate_inputs, gate_report, recorded_shares

    recorded = ctx.checkpoint.gates()  # those of the checkpoint's own table, the one a profile's table is cut from
    if recorded.gate is None:
        return {"gates": None, "reason": f"{ctx.checkpoint.folder}/lookup.json records no learned gate "
                                          "(`python -m mbi gate CHECKPOINT --fit --record`)"}
    gate = LearnedGate.from_dict(dict(recorded.gate))
    try:
        gate.check_table(ctx.table)
    except ValueError as exc:  # e.g. a profile's small table: the gate was fitted on the checkpoint's full one
        return {"gates": None, "reason": str(exc)}
    x, y = ctx.split("test")
    heartbeat(trial)
    inputs = gate_inputs(ctx.model, ctx.table, x, y, ctx.data.train_y, ctx.weights, f"test:{len(x)}", gate.k,
                         gate.features)
    heartbeat(trial)
    scores = {"distance": inputs.trace.max_distance.astype(np.float64), "learned": gate.score(inputs.features)}
    report = gate_report(inputs, scores, recorded.gate_thresholds, recorded_shares(recorded.gate_thresholds))
    return {**report, "table_rows": int(len(ctx.table)), "fitted_on": gate.fitted_on}


def _voltage_quantiles(voltages: np.ndarray, n: int = 101) -> list[list[float]]:
    """Per level, ``n`` quantiles (mV, 0.01 mV) of the samples: the distribution's shape in a small JSON."""
    return np.round(1e3 * np.quantile(voltages, np.linspace(0, 1, n), axis=1).T, 2).tolist()


def run_sram_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Fig. 6(b): ``python -m mbi sram`` defaults (60 mV, 5-bit ADC, 32x32, 1-bit elements)."""
    from mbi.hardware.sram import SRAMConfig, level_statistics

    stats = level_statistics(SRAMConfig(), element_bits=1, encoding="binary", trials=ctx.cfg["sram_trials"],
                             seed=ctx.cfg["seed"])
    return {**stats.summary(), "levels_list": [int(v) for v in stats.levels],
            "voltage_quantiles_mv": _voltage_quantiles(stats.voltages)}


def run_energy_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Fig. 6(c) and Table I: ``python -m mbi energy`` defaults, and our row for the checkpoint
    (:func:`mbi.hardware.energy.our_table_row`, the row the CLI and the dashboard show)."""
    from mbi.hardware.energy import COMPONENTS, PAPER_MATCH_ENERGY_J, EnergyConfig, inference_energy_j, match_energy, \
        our_table_row, table_one

    config = EnergyConfig()
    parts = match_energy(config)
    ours = our_table_row(ctx.checkpoint, config=config)
    return {"match_energy_j": {k: parts[k] for k in (*COMPONENTS, "total")},
            "inference_energy_j": inference_energy_j(match_energy_j=PAPER_MATCH_ENERGY_J),
            "table_one": table_one(mbi_work="MBI (paper)"), "ours": ours.to_dict(),
            "table_one_ours": ours.table_rows(), "ram": ctx.ram}


def run_scaling_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Model size: the profile's family, as ``python -m mbi scaling`` runs it (its own study, so a family already
    trained there, e.g. the full profile's in ``MBI_HOME``, is reused and only missing members are trained)."""
    from mbi.runs.reproduce.profiles import scaling_spec
    from mbi.runs.scaling import collect, run_family, summary, write_results
    from mbi.store import artifacts_root

    spec = scaling_spec(ctx.cfg)
    root = ctx.out if ctx.cfg["scaling"]["root"] == "out" else artifacts_root()
    heartbeat(trial)
    study = run_family(spec, None, root, progress=lambda _message: heartbeat(trial))  # alive while members train
    rows = collect(spec, study)
    write_results(spec, rows, root)
    return {"name": spec.name, "rows": rows, "summary": summary(rows), "members": spec.member_names(),
            "training": spec.base.train.to_dict()}


def run_robustness_item(ctx: ItemContext, trial: optuna.Trial) -> dict[str, Any]:
    """Robustness (issue 16): ``python -m mbi robustness`` on the profile's first test images and perturbations.

    With the checkpoint's own table: its recorded weights, distance threshold and learned gate (at its
    validation threshold for 90% by lookup). With a table of a few training images (the tiny profile)
    nothing recorded fits it: the distance threshold is the one that answers the paper's share of the
    clean images by lookup, and no learned gate is run.
    """
    from dataclasses import asdict

    from mbi.inference.lookup import StepIndex, lookup_infer
    from mbi.inference.mixed import PAPER_LOOKUP_SHARE, share_threshold
    from mbi.inference.gate import LearnedGate
    from mbi.inference.robustness import GateSetting, group_means, parse_perturbation, robustness_rows

    spec = ctx.cfg["robustness"]
    x, y = ctx.data.test_x[: spec["images"]], ctx.data.test_y[: spec["images"]]
    perturbations = [parse_perturbation(name) for name in spec["perturbations"]]
    index = StepIndex(ctx.table, ctx.weights)
    own = ctx.cfg["table_train_images"] is None
    settings = ctx.checkpoint.lookup
    threshold = settings.threshold if own else None
    source = "recorded with the model (lookup.json)"
    if threshold is None:
        threshold = share_threshold(lookup_infer(ctx.model, ctx.table, x, index=index), PAPER_LOOKUP_SHARE)
        source = f"answers {100 * PAPER_LOOKUP_SHARE:.2f}% of the clean images by lookup (the paper's share)"
    learned = None
    recorded = settings.gate_thresholds.get("learned", {})
    if own and settings.gate is not None and "0.9" in recorded:
        learned = GateSetting(LearnedGate.from_dict(dict(settings.gate)), float(recorded["0.9"]), ctx.data.train_y,
                              0.9)
    heartbeat(trial)
    rows = robustness_rows(ctx.model, ctx.table, x, y, float(threshold), index, perturbations,
                           progress=lambda _i, _p: heartbeat(trial), learned=learned)
    return {"images": int(len(y)), "split": "test", "weights": [float(w) for w in ctx.weights],
            "threshold": float(threshold), "threshold_source": source, "table_rows": int(len(ctx.table)),
            "learned_gate": None if learned is None else {"share": learned.share, "threshold": learned.threshold,
                                                          "fitted_on": learned.gate.fitted_on},
            "rows": [asdict(r) for r in rows], "groups": group_means(rows)}


def make_objective(cfg: dict[str, Any], out: Path, storage_url: str | None):
    """The Optuna objective of a reproduction: run the trial's item, store its result, return a headline."""
    contexts = {None: ItemContext(cfg, out)}
    contexts.update({row: ItemContext(row_config(cfg, row), out) for row in DATASET_ROWS if cfg.get(row)})

    def objective(trial: optuna.Trial) -> float:
        item = item_params(trial)
        kind = item["kind"]
        ctx = contexts[item.get("row")]
        if kind == "sweep":
            result = run_sweep_item(ctx, trial, item["figure"], json.loads(item["params"]))
            value = result["val_acc"]
        elif kind == "tablesize":
            result = run_tablesize_item(ctx, trial, None if item["size"] < 0 else item["size"], storage_url)
            value = result["weighted_accuracy"]
        elif kind in RUNNERS:
            result = RUNNERS[kind](ctx, trial)
            value = float(result.get("exact_share", result.get("lookup_accuracy", 0.0)) or 0.0)
        else:
            raise ValueError(f"unknown reproduce item kind {kind!r}")
        trial.set_user_attr(RESULT_ATTR, json.dumps(result, default=json_default))
        return float(value)

    return objective


RUNNERS = {"tree": run_tree_item, "mixed": run_mixed_item, "sram": run_sram_item, "energy": run_energy_item,
           "scaling": run_scaling_item, "gate": run_gate_item, "robustness": run_robustness_item}


def json_default(value: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars and arrays (an item's result holds them)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
