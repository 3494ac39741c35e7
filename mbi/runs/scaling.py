"""The model-size family: RAMs that share the lookup key but grow the network (the paper's title claim).

A scaling spec (JSON, shipped as ``mbi/specs/scaling.json``) names a base
:class:`~mbi.config.RunConfig` and the members, each a set of RAM overrides that may change only
the network (hidden width, extra core layers, glimpse-network widths), never what enters the key::

    {"name": "scaling",
     "base": {"ram": {...}, "train": {"epochs": 60, "patience": 5}},
     "members": [{"hidden_size": 64, "core_layers": 0, ...}, {"hidden_size": 2048, "core_layers": 3}],
     "evaluation": {"val_images": 10000, "test_images": 10000, "bo_trials": 16, ...}}

Every member is one work item in an Optuna study (:mod:`mbi.runs.studies`, shared with sweeps and
``reproduce``): trained with early stopping on validation into its own resumable run folder, distilled,
its distance weights (Bayesian optimization) and mixed-MBI threshold chosen on validation, then
measured on the test split (:func:`run_member`). The member's folder becomes a full checkpoint
(``model.pt``, ``lookup.json``, ``traversal.json``, table), so every other command and the dashboard
can open it. A killed run resumes: finished members are never redone, a member's training resumes
from its last epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
from optuna.trial import TrialState

from mbi.config import RAMConfig, RunConfig
from mbi.runs.studies import ITEM_ATTR, enqueue_missing, heartbeat, item_params, load_or_create, open_storage, run_worker
from mbi.store import atomic_write_json, read_json

KEY_FIELDS = ("num_glimpses", "patch_size", "glimpse_scale", "num_patches", "state_size", "patch_bits",
              "hidden_bits", "hidden_code", "loc_grid", "image_size")
"""RAM fields that decide the lookup key (patch vector, hidden state entering the key, location grid) or the
number of lookups: every member of a family must share them."""
RESULT_ATTR = "result"
RESULTS_FILE = "results.json"


@dataclass(frozen=True)
class Evaluation:
    """How each member is distilled, tuned on validation and measured on test (the same for all members).

    - ``table_train_images``: training images distilled into the table (None = the whole split).
    - ``val_images`` / ``test_images``: images of each split used (None = all).
    - ``bo_trials`` on the first ``bo_images`` validation images choose the eq. (1) weights (0 = a = b = c).
    - ``mixed_within_points``: the threshold is the one with the largest lookup share whose validation
      mixed accuracy is at most this many points below the member's validation RAM accuracy.
    - ``tree``: the k-means tree (branching, leaf_size, checks) whose traversal on ``traversal_images``
      validation images gives the energy per inference.
    - ``timing_images`` (batched) and ``single_images`` (one at a time): test images timed.
    - ``cim_macro``: the Table I macro whose energy per MAC (projected to 16 nm) prices the network.
    """

    table_train_images: int | None = None
    val_images: int | None = None
    test_images: int | None = None
    bo_trials: int = 16
    bo_images: int = 1000
    mixed_within_points: float = 1.0
    tree: dict[str, int] = field(default_factory=lambda: {"branching": 4, "leaf_size": 32, "checks": 1})
    traversal_images: int = 1000
    timing_images: int = 2000
    single_images: int = 200
    cim_macro: str = "CIM [12]"
    seed: int = 0

    def __post_init__(self) -> None:
        from mbi.hardware.cim_table import cim_macro

        for name in ("table_train_images", "val_images", "test_images"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"evaluation.{name} must be a positive integer or null, got {value!r}")
        for name in ("bo_trials", "bo_images", "traversal_images", "timing_images", "single_images", "seed"):
            value = getattr(self, name)
            low = 0 if name in ("bo_trials", "seed") else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"evaluation.{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.mixed_within_points, (int, float)) or not 0 <= self.mixed_within_points <= 100:
            raise ValueError(f"evaluation.mixed_within_points must be in [0, 100], got {self.mixed_within_points!r}")
        if set(self.tree) != {"branching", "leaf_size", "checks"}:
            raise ValueError(f"evaluation.tree needs exactly branching, leaf_size and checks, got {sorted(self.tree)}")
        cim_macro(self.cim_macro)


@dataclass(frozen=True)
class ScalingSpec:
    """A validated family (see the module docstring for the JSON form)."""

    name: str
    base: RunConfig
    members: tuple[tuple[str, dict[str, Any]], ...]
    evaluation: Evaluation = field(default_factory=Evaluation)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScalingSpec":
        """Parse and validate: unknown keys, key fields changed by a member, duplicate members are errors."""
        unknown = sorted(set(data) - {"name", "base", "members", "evaluation", "meta"})
        if unknown:
            raise ValueError(f"unknown scaling spec key(s) {unknown}; valid: base, evaluation, members, meta, name")
        name = str(data.get("name", ""))
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise ValueError(f"scaling 'name' must be 1-64 letters, digits, '_', '.', '-'; got {name!r}")
        base = RunConfig.from_dict(data.get("base", {}))
        raw = data.get("members")
        if not isinstance(raw, list) or not raw:
            raise ValueError("scaling 'members' must be a non-empty list of RAM overrides")
        members: list[tuple[str, dict[str, Any]]] = []
        for i, overrides in enumerate(raw):
            if not isinstance(overrides, dict):
                raise ValueError(f"member {i} must be an object of RAM fields, got {overrides!r}")
            overrides = dict(overrides)
            label = overrides.pop("name", None)
            fixed = sorted(set(overrides) & set(KEY_FIELDS))
            if fixed:
                raise ValueError(f"member {i} changes {fixed}, which the lookup key depends on; a family shares "
                                 "the key: set them in base.ram instead")
            RAMConfig.from_dict({**base.ram.to_dict(), **overrides})  # validates the member's architecture
            ram = {**base.ram.to_dict(), **overrides}
            label = str(label or f"h{ram['hidden_size']}-x{ram['core_layers']}")
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", label):
                raise ValueError(f"member name {label!r} must be 1-64 letters, digits, '_', '.', '-'")
            if label in [m for m, _ in members]:
                raise ValueError(f"two members are named {label!r}; give them distinct 'name's")
            members.append((label, overrides))
        evaluation = data.get("evaluation", {})
        if not isinstance(evaluation, dict):
            raise ValueError("scaling 'evaluation' must be an object")
        known = {f.name for f in dataclasses.fields(Evaluation)}
        if set(evaluation) - known:
            raise ValueError(f"unknown evaluation key(s) {sorted(set(evaluation) - known)}; valid: {sorted(known)}")
        return cls(name, base, tuple(members), Evaluation(**evaluation), dict(data.get("meta", {})))

    @classmethod
    def load(cls, path: str | Path) -> "ScalingSpec":
        """Read a spec from a JSON file."""
        return cls.from_dict(read_json(path))

    def member_names(self) -> list[str]:
        """Members in spec order."""
        return [name for name, _ in self.members]

    def config_for(self, member: str) -> RunConfig:
        """The member's RunConfig: the base (its dataset included) with its RAM overrides."""
        overrides = dict(self.members)[member]
        return RunConfig(RAMConfig.from_dict({**self.base.ram.to_dict(), **overrides}), self.base.train,
                         self.base.dataset)


def default_storage(spec: ScalingSpec, root: Path) -> Path:
    """Journal of a family when no storage URL is given: ``ROOT/scaling/NAME.journal``."""
    return Path(root) / "scaling" / f"{spec.name}.journal"


def member_dir(spec: ScalingSpec, root: Path, member: str) -> Path:
    """Run folder (a full checkpoint once done) of one member."""
    return Path(root) / "scaling" / spec.name / member


def open_family(spec: ScalingSpec, storage_url: str | None, root: Path) -> optuna.Study:
    """Create or load the family's study (study name ``scaling-NAME``)."""
    storage = open_storage(storage_url, default_storage(spec, root))
    return load_or_create(storage, f"scaling-{spec.name}", direction="maximize")


# --------------------------------------------------------------------------- one member


def _split(x: np.ndarray, y: np.ndarray, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    return (x, y) if n is None else (x[:n], y[:n])


def _seconds_per_image(run: Callable[[np.ndarray], Any], images: np.ndarray, one_at_a_time: bool,
                       repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time per image of ``run`` on ``images`` (batched, or one call per image)."""
    run(images[:1])  # warm up (allocations, thread pools)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        if one_at_a_time:
            for i in range(len(images)):
                run(images[i: i + 1])
        else:
            run(images)
        best = min(best, time.perf_counter() - start)
    return best / len(images)


def key_bits(ram: RAMConfig) -> int:
    """Bits of one binary-coded lookup key of ``ram`` (patch levels, hidden state, location)."""
    loc_bits = max(1, math.ceil(math.log2(ram.loc_grid)))
    return ram.patch_vector_len * int(ram.patch_bits) + ram.state_size * int(ram.hidden_bits) + 2 * loc_bits


def run_member(spec: ScalingSpec, member: str, root: Path, data: Any = None,
               beat: Callable[[], None] = lambda: None,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train, distill, tune on validation and measure one member; every number of its row of the family.

    ``data`` is an :class:`mbi.data.Dataset` (default: the member configuration's dataset, installed); ``beat``
    is called while it works (the study's heartbeat). Writes ``lookup.json`` and ``traversal.json`` into the member's folder.
    """
    import torch

    from mbi.data import load_dataset
    from mbi.hardware.cim_table import CIM_MACROS, cim_macro, energy_per_mac_j
    from mbi.hardware.energy import TraversalRecord, measure_traversal, our_table_row, record_traversal
    from mbi.inference.bo import run_bo
    from mbi.config import TreeConfig
    from mbi.inference.lookup import StepIndex, evaluate_lookup, lookup_infer
    from mbi.inference.mixed import MixedPoint, choose_threshold
    from mbi.memory.lut import distill, load_table, save_table
    from mbi.model.checkpoint import LookupSettings, SplitRecord, load_metrics, load_model, model_hash
    from mbi.model.size import model_size
    from mbi.model.predict import predict
    from mbi.model.train import train

    ev = spec.evaluation
    cfg = spec.config_for(member)
    folder = member_dir(spec, root, member)
    data = data or load_dataset(cfg.dataset)
    say = progress or (lambda _msg: None)
    for event in train(cfg, folder, data=data):
        if event.kind == "epoch":
            beat()
            say(f"{member}: epoch {event.epoch}/{event.epochs} val {100 * (event.val_acc or 0):.2f}%")
    torch.set_num_threads(cfg.train.num_threads)
    model, digest = load_model(folder), model_hash(folder)
    metrics = load_metrics(folder)

    train_x = data.train_x if ev.table_train_images is None else data.train_x[: ev.table_train_images]
    table_file = folder / ("table.npz" if ev.table_train_images is None else f"table-{ev.table_train_images}.npz")
    if table_file.is_file():
        table = load_table(table_file, digest, cfg.dataset)
    else:
        table = distill(model, train_x, digest, seed=ev.seed, dataset=cfg.dataset)
        save_table(table, table_file)
    beat()
    say(f"{member}: table of {len(table):,} rows")

    vx, vy = _split(data.val_x, data.val_y, ev.val_images)
    tx, ty = _split(data.test_x, data.test_y, ev.test_images)
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    if ev.bo_trials:
        bo = run_bo(model, table, vx[: ev.bo_images], vy[: ev.bo_images], n_trials=ev.bo_trials, seed=ev.seed,
                    study_name=f"bo-{digest}-{len(table)}rows", default_journal=folder / "bo.journal")
        weights = tuple(round(float(w), 4) for w in bo.best_weights)  # type: ignore[assignment]
    beat()
    val = evaluate_lookup(model, table, vx, vy, weights, "brute", "auto")
    floor = val["ram_accuracy"] - ev.mixed_within_points / 100
    chosen = choose_threshold([MixedPoint(**p) for p in val["mixed"]], floor)
    threshold = chosen.threshold if chosen is not None else min(p["threshold"] for p in val["mixed"])
    beat()
    test = evaluate_lookup(model, table, tx, ty, weights, "brute", [threshold])
    (at,) = [p for p in test["mixed"] if p["threshold"] == threshold]
    (val_at,) = [p for p in val["mixed"] if p["threshold"] == threshold]
    storage = table.storage_bytes()
    LookupSettings(
        weights=tuple(float(w) for w in weights), threshold=threshold,
        threshold_rule=f"largest lookup share with validation mixed accuracy >= validation RAM accuracy - "
                       f"{ev.mixed_within_points:g} points",
        table_rows=len(table), table_mb=test["table_mb"],
        splits={"val": SplitRecord(val["images"], val["ram_accuracy"], val["lookup_accuracy"], val_at["accuracy"],
                                   val_at["lookup_share"]),
                "test": SplitRecord(test["images"], test["ram_accuracy"], test["lookup_accuracy"], at["accuracy"],
                                    at["lookup_share"])}).write(folder)
    beat()

    stats = measure_traversal(model, table, vx[: ev.traversal_images], vy[: ev.traversal_images], weights,
                              exact=False, tree=TreeConfig(seed=ev.seed, **ev.tree))
    record = TraversalRecord(digest, stats, storage, "thermometer")
    record_traversal(folder, record)
    ours = our_table_row(folder, record=record)
    beat()

    timing = tx[: ev.timing_images]
    single = tx[: ev.single_images]
    ram_batched = _seconds_per_image(lambda x: predict(model, x), timing, False)
    ram_single = _seconds_per_image(lambda x: predict(model, x), single, True)
    lookups: dict[str, dict[str, float]] = {}
    for kind, params in (("brute", {}), ("tree", ev.tree)):
        index = StepIndex(table, weights, kind, tree=TreeConfig(**params) if kind == "tree" else None)
        lookups[kind] = {
            "batched_s": _seconds_per_image(lambda x: lookup_infer(model, table, x, index=index), timing, False),
            "single_s": _seconds_per_image(lambda x: lookup_infer(model, table, x, index=index), single, True)}
        beat()
    fastest = min(lookups, key=lambda k: lookups[k]["batched_s"])
    fastest_single = min(lookups, key=lambda k: lookups[k]["single_s"])

    size = model_size(model)
    macro = cim_macro(ev.cim_macro)
    history = metrics.get("history", [])
    say(f"{member}: RAM {100 * test['ram_accuracy']:.2f}%, lookup {100 * test['lookup_accuracy']:.2f}%, "
        f"mixed {100 * at['accuracy']:.2f}% ({100 * at['lookup_share']:.1f}% by lookup)")
    return {
        "member": member, "ram": cfg.ram.to_dict(), "train": cfg.train.to_dict(),
        "epochs_trained": int(metrics.get("epochs_done", 0)), "best_epoch": metrics.get("best_epoch"),
        "stopped_early": int(metrics.get("epochs_done", 0)) < cfg.train.epochs,
        "train_seconds": float(history[-1]["elapsed_s"]) if history else None,
        "best_val_acc": float(metrics.get("best_val_acc", 0.0)),
        **size.to_dict(),
        "key_bits": key_bits(cfg.ram), "table_rows": len(table), "table_bytes_binary": storage["total_binary"],
        "table_bytes_thermometer": storage["total_thermometer"], "table_train_images": len(train_x),
        "weights": [float(w) for w in weights], "threshold": threshold,
        "val_ram_accuracy": val["ram_accuracy"], "val_mixed_accuracy": val_at["accuracy"],
        "test_images": test["images"], "ram_accuracy": test["ram_accuracy"],
        "lookup_accuracy": test["lookup_accuracy"], "mixed_accuracy": at["accuracy"],
        "mixed_lookup_share": at["lookup_share"],
        "brute_comparisons_per_lookup": test["comparisons_per_query"],
        "tree_comparisons_per_lookup": stats.comparisons_per_inference / stats.lookups,
        "tree_val_lookup_accuracy": stats.tree_accuracy,
        "ram_batched_s": ram_batched, "ram_single_s": ram_single,
        "lookup_s": lookups, "fastest_search": fastest, "fastest_single_search": fastest_single,
        "lookup_batched_s": lookups[fastest]["batched_s"], "lookup_single_s": lookups[fastest_single]["single_s"],
        "mbi_energy_j": ours.energy_j, "mbi_energy_text": ours.traversal_text,
        "cim_macro": macro.work, "cim_energy_per_mac_j": energy_per_mac_j(macro),
        "cim_energy_j": size.macs_per_image * energy_per_mac_j(macro),
        "cim_energy_by_macro_j": {row.work: size.macs_per_image * energy_per_mac_j(row) for row in CIM_MACROS},
    }


# --------------------------------------------------------------------------- the family


def work_items(spec: ScalingSpec) -> list[dict[str, Any]]:
    """One work item per member."""
    return [{"kind": "member", "member": name} for name in spec.member_names()]


def make_objective(spec: ScalingSpec, root: Path, data: Any = None, progress: Callable[[str], None] | None = None):
    """Optuna objective: run the trial's member, store its row as the ``result`` attribute, return test accuracy."""

    def objective(trial: optuna.Trial) -> float:
        member = item_params(trial)["member"]
        if member not in spec.member_names():
            raise ValueError(f"the study holds member {member!r}, which this spec does not define")
        row = run_member(spec, member, root, data=data, beat=lambda: heartbeat(trial), progress=progress)
        trial.set_user_attr(RESULT_ATTR, json.dumps(row))
        return float(row["ram_accuracy"])

    return objective


def run_family(spec: ScalingSpec, storage_url: str | None = None, root: Path = Path("artifacts"), data: Any = None,
               progress: Callable[[str], None] | None = None, max_items: int | None = None,
               grace_s: float | None = None) -> optuna.Study:
    """Enqueue the members not yet queued or finished and work through them in this process.

    Several processes (``--workers``) or machines (``--storage URL``) may call this on one study;
    each pops the members that remain.
    """
    study = open_family(spec, storage_url, root)
    enqueue_missing(study, work_items(spec), **({} if grace_s is None else {"grace_s": grace_s}))
    run_worker(study, make_objective(spec, root, data, progress), max_items=max_items)
    return study


def collect(spec: ScalingSpec, study: optuna.Study) -> list[dict[str, Any]]:
    """Rows of the finished members, smallest network (MACs per image) first."""
    rows = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if RESULT_ATTR in t.user_attrs and ITEM_ATTR in t.user_attrs:
            row = json.loads(t.user_attrs[RESULT_ATTR])
            if row["member"] in spec.member_names():
                rows[row["member"]] = row
    return sorted(rows.values(), key=lambda r: r["macs_per_image"])


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the figure marks: the first member whose lookups beat the network in software, the factors at the
    largest member, the spread of MACs, and whether every member shares the key length.

    "Beat" compares seconds per image, batched, of lookup-only MBI with the fastest search against the RAM
    (each mode, batched and one image at a time, uses its own fastest search).
    """
    if not rows:
        return {"members": 0}
    largest = rows[-1]
    beats = [r["member"] for r in rows if r["lookup_batched_s"] < r["ram_batched_s"]]
    return {
        "members": len(rows),
        "macs_span": largest["macs_per_image"] / rows[0]["macs_per_image"],
        "key_bits": sorted({r["key_bits"] for r in rows}),
        "lookup_beats_ram_from": beats[0] if beats else None,
        "largest": largest["member"],
        "time_factor_at_largest": largest["ram_batched_s"] / largest["lookup_batched_s"],
        "single_time_factor_at_largest": largest["ram_single_s"] / largest["lookup_single_s"],
        "energy_factor_at_largest": largest["cim_energy_j"] / largest["mbi_energy_j"],
        "operations_factor_at_largest": largest["macs_per_image"] / (
            largest["tree_comparisons_per_lookup"] * largest["ram"]["num_glimpses"]),
    }


def write_results(spec: ScalingSpec, rows: list[dict[str, Any]], root: Path) -> Path:
    """``ROOT/scaling/NAME/results.json``: the spec, every finished member's row and the :func:`summary`."""
    path = Path(root) / "scaling" / spec.name / RESULTS_FILE
    return atomic_write_json(path, {"name": spec.name, "meta": spec.meta, "members": spec.member_names(),
                                    "rows": rows, "summary": summary(rows)})


def read_results(path: str | Path) -> dict[str, Any]:
    """A written ``results.json``, checked for the parts readers use."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or "summary" not in data:
        raise ValueError(f"{path} is not a model-size family's results; run `python -m mbi scaling` to write it")
    return data


def find_results(root: Path) -> list[Path]:
    """Every family's ``results.json`` under ``ROOT/scaling/`` (name order)."""
    return sorted((Path(root) / "scaling").glob(f"*/{RESULTS_FILE}"))


TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("member", "Member"), ("parameters", "Parameters"), ("macs_per_image", "MACs/image"), ("epochs", "Epochs"),
    ("ram", "RAM test"), ("lookup", "Lookup-only"), ("mixed", "Mixed (by lookup)"), ("rows", "Table rows"),
    ("mb", "Table MB"), ("key_bits", "Key bits"), ("comparisons", "Comparisons/lookup (tree, brute)"),
    ("ram_rate", "RAM img/s (batch, single)"), ("lookup_rate", "Lookup img/s (batch, single)"),
    ("energy", "Energy/inference (CIM, MBI)"),
)
"""Columns of the per-member table (key, header) that the CLI, RESULTS.md and the dashboard show."""


def table_cells(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The per-member table as display strings keyed by :data:`TABLE_COLUMNS`."""
    from mbi.hardware.cim_table import format_energy

    out = []
    for r in rows:
        stop = "" if not r["stopped_early"] else " (early stop)"
        out.append({
            "member": r["member"], "parameters": f"{r['parameters']:,}", "macs_per_image": f"{r['macs_per_image']:,}",
            "epochs": f"{r['epochs_trained']}{stop}", "ram": f"{100 * r['ram_accuracy']:.2f}%",
            "lookup": f"{100 * r['lookup_accuracy']:.2f}%",
            "mixed": f"{100 * r['mixed_accuracy']:.2f}% ({100 * r['mixed_lookup_share']:.1f}%)",
            "rows": f"{r['table_rows']:,}", "mb": f"{r['table_bytes_binary'] / 1e6:.2f}", "key_bits": str(r["key_bits"]),
            "comparisons": f"{r['tree_comparisons_per_lookup']:.0f}, {r['brute_comparisons_per_lookup']:.0f}",
            "ram_rate": f"{1 / r['ram_batched_s']:,.0f}, {1 / r['ram_single_s']:,.0f}",
            "lookup_rate": (f"{1 / r['lookup_batched_s']:,.0f} ({r['fastest_search']}), "
                            f"{1 / r['lookup_single_s']:,.0f} ({r.get('fastest_single_search', r['fastest_search'])})"),
            "energy": f"{format_energy(r['cim_energy_j'])}, {format_energy(r['mbi_energy_j'])}",
        })
    return out


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The per-member table in Markdown (what the CLI prints and RESULTS.md shows)."""
    lines = ["| " + " | ".join(h for _, h in TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(cells[k] for k, _ in TABLE_COLUMNS) + " |" for cells in table_cells(rows)]
    return "\n".join(lines) + "\n"
