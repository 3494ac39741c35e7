"""Energy of in-memory key matching and of a whole MBI inference; our row of the paper's Table I.

One key/query match on one ``rows x cols`` array (paper Fig. 6(c)) costs four parts,
each a formula over documented parameters (:class:`EnergyConfig`):

- ADC: one conversion per match, ``FoM * 2**bits`` (Walden figure of merit).
- Row activation peripherals: decoder, word line and read-port select drivers of the
  selected row, ``cols * C_row * V_dd**2``.
- Column precharge: every BL and BLB is restored after the charge share,
  ``2 * sum_j (C_BL + C_pch) * V_P,j * V_dd`` (charge from the supply at V_dd).
- Digital logic (step 4): multiply the ADC code by the part weight, accumulate the
  partitions and compare with the running minimum,
  ``(adc_bits * weight_bits + 2 * accumulator_bits) * E_op`` full-adder-equivalent operations.

The paper gives the total (~4.7 pJ per 32x32 match at 16 nm) but no component values
in its text, so the split below is our estimate: the effective capacitances and the
ADC figure of merit are set so the paper's operating point (5-bit ADC, 32x32, binary
2-bit columns at V_P,max and V_P,max/2) lands at 4.7 pJ, with the ADC the largest share
as is usual for CIM macros. Change them in :class:`EnergyConfig` to explore.

Energy per inference of a model is computed in one place, :func:`our_table_row`, which says which
traversal it assumes (a measured k-means traversal recorded beside the checkpoint, else the paper's
averages). The rest of Table I lives in :mod:`mbi.hardware.cim_table` (names re-exported here).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Sequence

import numpy as np

from mbi.hardware.cim_table import (CIM_MACROS, PAPER_INFERENCE_ENERGY_J, PAPER_MBI_ACCURACY_PCT,  # noqa: F401
                                    PAPER_MBI_ROW, PAPER_MBI_STORAGE_MB, TABLE_COLUMNS, TARGET_NODE_NM, TableRow,
                                    format_energy, format_table_one, project_energy_j, table_cells, table_one)
from mbi.hardware.sram import ArrayLayout, SRAMConfig, check_integer, check_number

PAPER_GLIMPSES = 5
PAPER_LEVELS = 3.5
PAPER_KEYS_PER_LEVEL = 32
PAPER_SPLITS = 5
PAPER_MATCH_ENERGY_J = 4.7e-12

COMPONENTS = ("adc", "row_peripherals", "precharge", "logic")


@dataclass(frozen=True)
class EnergyConfig:
    """Parameters of the per-match energy model (shared electrical ones come from ``sram``).

    - ``adc_fom_j_per_step`` 75 fJ/conversion-step: Walden FoM of a small SAR ADC, in the
      range that paper ref. [9] (Jiang et al. 2021) explores for CIM; 5 bits -> 2.4 pJ.
    - ``row_cap_per_column_f`` 40 fF: effective capacitance switched per column when a row
      is activated (word line, read-port select and query drivers, decoder share); calibrated.
    - ``precharge_overhead_cap_f`` 10 fF: per line on top of the bit line itself (precharge
      device, charge-sum transmission gate, sum-line share); calibrated.
    - ``logic_energy_per_op_j`` 10 fJ: one full-adder-equivalent operation at 16 nm and 0.9 V
      including its register and clock share (order of paper ref. [11]'s 16 nm adders plus overhead).
    - ``weight_bits`` 8, ``accumulator_bits`` 16: digital weight and partial-sum widths.
    """

    sram: SRAMConfig = field(default_factory=SRAMConfig)
    adc_fom_j_per_step: float = 75e-15
    row_cap_per_column_f: float = 40e-15
    precharge_overhead_cap_f: float = 10e-15
    logic_energy_per_op_j: float = 10e-15
    weight_bits: int = 8
    accumulator_bits: int = 16

    def __post_init__(self) -> None:
        own = "EnergyConfig"
        if not isinstance(self.sram, SRAMConfig):
            raise ValueError(f"{own}.sram must be an SRAMConfig, got {type(self.sram).__name__}")
        check_number(own, "adc_fom_j_per_step", self.adc_fom_j_per_step, 0.0, 1e-9, "J", lo_open=True)
        check_number(own, "row_cap_per_column_f", self.row_cap_per_column_f, 0.0, 1e-9, "F")
        check_number(own, "precharge_overhead_cap_f", self.precharge_overhead_cap_f, 0.0, 1e-9, "F")
        check_number(own, "logic_energy_per_op_j", self.logic_energy_per_op_j, 0.0, 1e-9, "J")
        check_integer(own, "weight_bits", self.weight_bits, 1, 64)
        check_integer(own, "accumulator_bits", self.accumulator_bits, 1, 128)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def paper_precharge_fractions(cols: int) -> np.ndarray:
    """Column precharge (fraction of V_P,max) at the paper's operating point: 2-bit binary, LSB at 1/2."""
    return np.resize([0.5, 1.0], cols)


def match_energy(config: EnergyConfig | None = None, precharge: Sequence[float] | None = None) -> dict[str, float]:
    """Energy (J) of one key/query match on one array, per component (:data:`COMPONENTS`) and ``total``.

    ``precharge`` lists the used columns' precharge as fractions of V_P,max (default: the paper's
    2-bit binary array filled with columns at 1/2 and 1); unused columns are not precharged.
    """
    config = config or EnergyConfig()
    s = config.sram
    fractions = paper_precharge_fractions(s.cols) if precharge is None else np.asarray(precharge, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) > s.cols or (fractions < 0).any() or (fractions > 1).any():
        raise ValueError(f"precharge must list at most {s.cols} fractions in [0, 1] (one per used column)")
    parts = {
        "adc": config.adc_fom_j_per_step * 2**s.adc_bits,
        "row_peripherals": s.cols * config.row_cap_per_column_f * s.vdd_v**2,
        "precharge": 2 * (s.bitline_cap_f + config.precharge_overhead_cap_f) * s.v_p_max_v * s.vdd_v
        * float(fractions.sum()),
        "logic": (s.adc_bits * config.weight_bits + 2 * config.accumulator_bits) * config.logic_energy_per_op_j,
    }
    parts["total"] = sum(parts.values())
    return parts


def key_match_energy_j(layout: ArrayLayout, config: EnergyConfig | None = None) -> float:
    """Energy (J) of matching one whole key laid out by ``layout``: one match per array it spans."""
    config = config or EnergyConfig()
    if layout.array_cols != config.sram.cols:
        raise ValueError(f"layout arrays are {layout.array_cols} columns wide but EnergyConfig.sram.cols is "
                         f"{config.sram.cols}; use the same array width")
    return sum(match_energy(config, layout.column_precharge[s:e])["total"] for _, s, e in layout.arrays)


def inference_energy_j(glimpses: float = PAPER_GLIMPSES, mean_levels: float = PAPER_LEVELS,
                       mean_keys_per_level: float = PAPER_KEYS_PER_LEVEL, splits: float = PAPER_SPLITS,
                       match_energy_j: float = PAPER_MATCH_ENERGY_J) -> float:
    """Energy (J) of one image's MBI inference: glimpses x levels x keys per level x splits x energy per match.

    Defaults are the paper's averages (Table I footnote: 5 x 3.5 x 32 x 5 x 4.7 pJ = 13.16 nJ). From
    traversal statistics, pass the measured mean tree levels visited per lookup, mean keys (or
    centroids) compared per visited level and the arrays per key (``ArrayLayout.n_arrays``); a search
    that reports total comparisons per lookup can pass ``mean_levels=1`` and that total.
    """
    for name, value in (("glimpses", glimpses), ("mean_levels", mean_levels),
                        ("mean_keys_per_level", mean_keys_per_level), ("splits", splits),
                        ("match_energy_j", match_energy_j)):
        check_number("inference_energy_j", name, value, 0.0, 1e12, "")
    return glimpses * mean_levels * mean_keys_per_level * splits * match_energy_j


# --------------------------------------------------------------------------- measured traversal


@dataclass(frozen=True)
class TraversalStats:
    """How a k-means tree per glimpse step is traversed by real lookups (one lookup per step and image).

    Per step: table rows, tree height, mean tree levels descended, mean centroids compared, mean
    leaf keys scanned and mean comparisons (centroids + leaf keys) per lookup. The centroid/leaf
    split is known only for ``checks == 1`` (one leaf scanned; NaN otherwise).
    """

    images: int
    split: str
    weights: tuple[float, float, float]
    branching: int
    leaf_size: int
    checks: int
    rows: tuple[int, ...]
    height: tuple[int, ...]
    mean_levels: tuple[float, ...]
    mean_centroids: tuple[float, ...]
    mean_leaf_keys: tuple[float, ...]
    mean_comparisons: tuple[float, ...]
    tree_accuracy: float  # lookup-only accuracy with these trees on the measured images
    exact_accuracy: float | None  # the same with exact brute-force search (None if not measured)

    @property
    def lookups(self) -> int:
        """Lookups per inference (one per glimpse step)."""
        return len(self.rows)

    @property
    def comparisons_per_inference(self) -> float:
        """Key matches per image: sum over the steps of the mean comparisons per lookup."""
        return float(sum(self.mean_comparisons))

    @property
    def levels_per_lookup(self) -> float:
        """Mean tree levels descended per lookup (over steps)."""
        return float(np.mean(self.mean_levels))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the per-inference totals."""
        return {**asdict(self), "lookups": self.lookups, "comparisons_per_inference": self.comparisons_per_inference,
                "levels_per_lookup": self.levels_per_lookup}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TraversalStats":
        """Inverse of :meth:`to_dict` (the per-inference totals are derived again, not read)."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"a recorded traversal needs {missing}; record it again with "
                             "`python -m mbi energy --measured --record`")
        value = {n: tuple(data[n]) if isinstance(data[n], list) else data[n] for n in names}
        return cls(**value)


def measure_traversal(model: Any, table: Any, images: np.ndarray, labels: np.ndarray,
                      weights: Sequence[float] = (1.0, 1.0, 1.0), *, branching: int = 4, leaf_size: int = 32,
                      checks: int = 1, seed: int = 0, split: str = "val", exact: bool = True) -> TraversalStats:
    """Build a :class:`mbi.search.searchers.KMeansTree` per glimpse step of ``table`` and run lookup-only MBI on ``images``.

    Records what each lookup costs (levels, centroids, leaf keys) and the accuracy; ``exact``
    also runs brute-force search for the accuracy the tree gives up.
    """
    from mbi.inference.lookup import StepIndex, lookup_infer  # heavy (torch): only when measuring

    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need at least one image and one label per image, got {len(images)} and {len(labels)}")
    index = StepIndex(table, weights, "tree", branching=branching, leaf_size=leaf_size, checks=checks, seed=seed)
    trace = lookup_infer(model, table, images, index=index)
    rows, height, levels, centroids, leaf_keys, comparisons = [], [], [], [], [], []
    for t, tree in enumerate(index.searchers):
        if tree is None:
            raise ValueError(f"the table has no rows for glimpse step {t + 1}")
        res = tree.query(trace.queries[:, t])
        if not np.array_equal(index.rows[t][res.index], trace.rows[:, t]):
            raise RuntimeError("tree search is not deterministic: a repeated query found another row")
        rows.append(int(tree.n_rows))
        height.append(int(tree.height))
        levels.append(float(res.levels.mean()))
        comparisons.append(float(res.comparisons.mean()))
        if checks == 1:
            summary = tree.summary()
            size_of_row = np.empty(tree.n_rows, dtype=np.int64)
            for leaf_rows in summary.leaf_rows.values():
                size_of_row[leaf_rows] = len(leaf_rows)
            scanned = size_of_row[res.index]
            leaf_keys.append(float(scanned.mean()))
            centroids.append(float((res.comparisons - scanned).mean()))
        else:
            leaf_keys.append(math.nan)
            centroids.append(math.nan)
    exact_accuracy = None
    if exact:
        exact_trace = lookup_infer(model, table, images, index=StepIndex(table, weights, "brute"))
        exact_accuracy = float(np.mean(exact_trace.prediction == labels))
    return TraversalStats(int(len(images)), split, tuple(float(w) for w in weights), branching, leaf_size, checks,
                          tuple(rows), tuple(height), tuple(levels), tuple(centroids), tuple(leaf_keys),
                          tuple(comparisons), float(np.mean(trace.prediction == labels)), exact_accuracy)


def measured_inference_energy(stats: TraversalStats, layout: ArrayLayout,
                              config: EnergyConfig | None = None) -> dict[str, Any]:
    """Energy per inference from measured traversal: every comparison matches one key on all its arrays.

    ``energy_per_inference_j`` = sum over steps of (mean comparisons per lookup) x (energy of one
    key match on ``layout``, :func:`key_match_energy_j`). Centroid comparisons cost a key match
    (centroids stored like keys). ``paper_form`` restates it as the Table I footnote's product
    glimpses x levels x keys per level x splits x mean energy per array match.
    """
    config = config or EnergyConfig()
    key_j = key_match_energy_j(layout, config)
    levels = stats.levels_per_lookup
    per_lookup = stats.comparisons_per_inference / stats.lookups
    paper_form = {"glimpses": stats.lookups, "mean_levels": levels,
                  "mean_keys_per_level": per_lookup / levels if levels > 0 else per_lookup,
                  "splits": layout.n_arrays, "match_energy_j": key_j / layout.n_arrays}
    if levels <= 0:
        paper_form["mean_levels"] = 1.0
    return {"encoding": layout.encoding, "arrays_per_key": layout.n_arrays, "columns_per_key": layout.n_columns,
            "energy_per_key_match_j": key_j, "energy_per_array_match_j": key_j / layout.n_arrays,
            "comparisons_per_lookup": per_lookup, "comparisons_per_inference": stats.comparisons_per_inference,
            "energy_per_inference_j": stats.comparisons_per_inference * key_j,
            "paper_form": paper_form, "paper_form_energy_j": inference_energy_j(**paper_form)}


def reported_accuracy(checkpoint: str | Any | None = "default") -> tuple[float, str] | None:
    """Accuracy (%) and its label from the checkpoint's ``lookup.json``, if the lead recorded one.

    ``test_lookup_accuracy`` (lookups only, what the energy counts) is preferred over
    ``test_mixed_accuracy``; values <= 1 are read as fractions.
    """
    from mbi.model.checkpoint import lookup_settings

    info = lookup_settings(checkpoint)
    if not info:
        return None
    for key, label in (("test_lookup_accuracy", "lookup-only, test split"),
                       ("test_mixed_accuracy", "mixed MBI, test split")):
        value = info.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            pct = 100 * float(value) if value <= 1 else float(value)
            share = info.get("test_mixed_lookup_share", info.get("test_lookup_share"))
            if "mixed" in label and isinstance(share, (int, float)):
                label += f", {100 * float(share):.1f}% by lookup"
            return pct, f"{label} (lookup.json {key})"
    return None


def encoding_costs(layouts: Sequence[ArrayLayout], config: EnergyConfig | None = None) -> list[dict[str, Any]]:
    """Columns, arrays and energy per key match of each layout (e.g. binary vs thermometer of one key)."""
    config = config or EnergyConfig()
    return [{"encoding": lay.encoding, "columns_per_key": lay.n_columns, "arrays_per_key": lay.n_arrays,
             "energy_per_key_match_j": key_match_energy_j(lay, config)} for lay in layouts]



# --------------------------------------------------------------------------- our row of Table I

TRAVERSAL_FILE = "traversal.json"
"""A measured traversal recorded beside its checkpoint (``python -m mbi energy --measured --record``)."""
DEFAULT_ENCODING = "thermometer"
"""Key coding of our row unless a recorded traversal says otherwise: the one whose array computes eq. (1)."""


@dataclass(frozen=True)
class TraversalRecord:
    """A measured traversal of one checkpoint's table, kept beside the checkpoint so readers need no MNIST or table.

    ``model_hash`` ties it to the weights it was measured with (:func:`mbi.model.checkpoint.model_hash`);
    ``storage_bytes`` is the measured table's :meth:`mbi.memory.lut.LookupTable.storage_bytes`;
    ``encoding`` the key coding chosen for Table I's row.
    """

    model_hash: str
    stats: TraversalStats
    storage_bytes: dict[str, int]
    encoding: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``traversal`` holds :meth:`TraversalStats.to_dict`)."""
        return {"model_hash": self.model_hash, "traversal": self.stats.to_dict(),
                "storage_bytes": dict(self.storage_bytes), "encoding": self.encoding}

    @classmethod
    def from_dict(cls, data: Any, where: str = TRAVERSAL_FILE) -> "TraversalRecord":
        """Parse :meth:`to_dict`'s layout; a ValueError naming ``where`` and what to do otherwise."""
        from mbi.hardware.sram import ENCODINGS

        keys = ("model_hash", "traversal", "storage_bytes", "encoding")
        if not isinstance(data, dict) or any(k not in data for k in keys):
            raise ValueError(f"{where} must hold {list(keys)}; delete it and record it again with "
                             "`python -m mbi energy --measured --record`")
        if data["encoding"] not in ENCODINGS:
            raise ValueError(f"{where}: encoding must be one of {ENCODINGS}, got {data['encoding']!r}")
        storage = data["storage_bytes"]
        if not isinstance(storage, dict) or not all(isinstance(storage.get(k), int) for k in
                                                    ("rows", "total_binary", "total_thermometer")):
            raise ValueError(f"{where}: storage_bytes must hold integer rows, total_binary and total_thermometer")
        return cls(str(data["model_hash"]), TraversalStats.from_dict(data["traversal"]), dict(storage),
                   data["encoding"])


def record_traversal(folder: str | Any, record: TraversalRecord) -> Any:
    """Write ``record`` as ``folder/traversal.json`` atomically (what :func:`our_table_row` reads)."""
    from pathlib import Path

    from mbi.store import atomic_write_json

    return atomic_write_json(Path(folder) / TRAVERSAL_FILE, record.to_dict())


def recorded_traversal(folder: str | Any) -> TraversalRecord | None:
    """The traversal recorded beside checkpoint ``folder``, or None when there is none for its current weights."""
    from pathlib import Path

    from mbi.model.checkpoint import model_hash
    from mbi.store import read_json

    path = Path(folder) / TRAVERSAL_FILE
    if not path.is_file():
        return None
    record = TraversalRecord.from_dict(read_json(path), str(path))
    return record if record.model_hash == model_hash(folder) else None


@dataclass(frozen=True)
class OurRow:
    """Our column of Table I for one checkpoint: energy per inference with the traversal it assumes.

    ``traversal`` is ``"measured"`` (a recorded k-means traversal of the checkpoint's table) or
    ``"paper averages"`` (the Table I footnote's 3.5 levels x 32 keys per level on this model's key);
    ``traversal_text`` says it in words with the footnote's product ``factors`` (glimpses, mean_levels,
    mean_keys_per_level, splits, match_energy_j), whose product is ``energy_j``. Accuracy and storage
    (None when not measured) come with the label saying where they are from.
    """

    work: str
    traversal: str
    traversal_text: str
    encoding: str
    factors: dict[str, float]
    energy_j: float
    accuracy_pct: float | None
    accuracy_label: str
    storage_mb: float | None
    storage_label: str

    def table_rows(self, target_nm: float = TARGET_NODE_NM) -> list[dict[str, Any]]:
        """Table I with this row first, then the paper's MBI row and the CIM macros (:func:`table_one`)."""
        return table_one(self.accuracy_pct, self.storage_mb, self.energy_j, target_nm, mbi_work=self.work,
                         include_paper_mbi=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _factors_text(f: dict[str, float], encoding: str) -> str:
    """The Table I footnote's product in words, e.g. ``4 glimpses x 6.06 levels x ... x 4.917 pJ (binary keys)``."""
    return (f"{f['glimpses']:g} glimpses x {f['mean_levels']:.2f} levels x {f['mean_keys_per_level']:.2f} keys per "
            f"level x {f['splits']:g} splits x {f['match_energy_j'] * 1e12:.3f} pJ ({encoding} keys)")


def our_table_row(checkpoint: str | Any | None = "default", *, config: EnergyConfig | None = None,
                  record: TraversalRecord | None = None, encoding: str | None = None,
                  accuracy: tuple[float, str] | None = None,
                  storage_mb: tuple[float, str] | None = None) -> OurRow:
    """Our row of Table I for ``checkpoint``: the one place energy per inference of a model is computed.

    Traversal: ``record`` (a traversal just measured), else the one recorded beside the checkpoint
    (:func:`recorded_traversal`), energy = its comparisons per inference x the energy of one key match on
    the model's key layout in ``encoding`` (:func:`measured_inference_energy`). Without either, the paper's
    averages (3.5 levels x 32 keys per level) on the model's glimpses and key layout. Encoding: given,
    else the record's, else :data:`DEFAULT_ENCODING`. Accuracy: ``accuracy`` (value %, label), else
    ``lookup.json``'s test accuracy (:func:`reported_accuracy`), else the measured trees' validation
    accuracy. Storage: ``storage_mb`` (MB, label), else the measured table's in ``encoding``, else
    ``lookup.json``'s ``table_mb`` (binary keys). Reads only small files: no MNIST, no table.
    """
    from mbi.hardware.sram import build_layout, key_parts_from_ram
    from mbi.model.checkpoint import load_config, lookup_settings, resolve_checkpoint

    config = config or EnergyConfig()
    folder = resolve_checkpoint(checkpoint)
    record = record if record is not None else recorded_traversal(folder)
    encoding = encoding or (record.encoding if record is not None else DEFAULT_ENCODING)
    ram = load_config(folder).ram
    layout = build_layout(key_parts_from_ram(ram), encoding, config.sram.cols)
    if record is not None:
        stats = record.stats
        measured = measured_inference_energy(stats, layout, config)
        factors, energy_j = measured["paper_form"], measured["energy_per_inference_j"]
        checked = f"{stats.checks} leaf checked" if stats.checks == 1 else f"{stats.checks} leaves checked"
        kind = "measured"
        text = (f"a measured k-means traversal ({stats.images:,} {stats.split} images; branching {stats.branching}, "
                f"leaf size {stats.leaf_size}, {checked}): {_factors_text(factors, encoding)}")
        work = f"MBI (ours, measured, {encoding})"
    else:
        key_j = key_match_energy_j(layout, config)
        factors = {"glimpses": ram.num_glimpses, "mean_levels": PAPER_LEVELS,
                   "mean_keys_per_level": PAPER_KEYS_PER_LEVEL, "splits": layout.n_arrays,
                   "match_energy_j": key_j / layout.n_arrays}
        energy_j = inference_energy_j(**factors)
        kind = "paper averages"
        text = (f"the paper's traversal averages (Table I footnote: {PAPER_LEVELS:g} levels x "
                f"{PAPER_KEYS_PER_LEVEL} keys per level) on this model's key: {_factors_text(factors, encoding)}; "
                "`python -m mbi energy --measured --record` measures the real traversal")
        work = f"MBI (ours, paper's traversal averages, {encoding})"
    if accuracy is None:
        reported = reported_accuracy(folder)
        if reported is not None:
            accuracy = reported
            if record is not None and record.stats.exact_accuracy is not None:
                s = record.stats
                accuracy = (reported[0], reported[1] + f"; NOTE: these trees reach {100 * s.tree_accuracy:.2f}% on "
                            f"{s.split} where brute force reaches {100 * s.exact_accuracy:.2f}%")
        elif record is not None:
            s = record.stats
            accuracy = (100 * s.tree_accuracy, f"lookup-only, {'VALIDATION' if s.split == 'val' else s.split} "
                        f"split ({s.images} images), this tree; no lookup.json yet")
    if storage_mb is None:
        table_mb = lookup_settings(folder).get("table_mb")
        if record is not None:
            b = record.storage_bytes
            storage_mb = (b[f"total_{encoding}"] / 1e6, f"{b['rows']:,} rows, {encoding} keys + values, "
                          "1 MB = 1e6 bytes, tree centroids not counted")
        elif isinstance(table_mb, (int, float)):
            storage_mb = (float(table_mb), "binary keys + values (lookup.json table_mb)")
    acc, acc_label = accuracy if accuracy is not None else (None, "not recorded: `python -m mbi lookup --split "
                                                                  "test --record`")
    mb, mb_label = storage_mb if storage_mb is not None else (None, "not measured")
    return OurRow(work, kind, text, encoding, {k: float(v) for k, v in factors.items()}, float(energy_j),
                  acc, acc_label, mb, mb_label)


__all__ = [
    "PAPER_INFERENCE_ENERGY_J", "PAPER_MBI_ACCURACY_PCT", "PAPER_MBI_STORAGE_MB", "TARGET_NODE_NM",
    "CIM_MACROS", "COMPONENTS", "DEFAULT_ENCODING", "EnergyConfig", "OurRow", "PAPER_MBI_ROW", "TABLE_COLUMNS",
    "TRAVERSAL_FILE", "TableRow", "TraversalRecord", "TraversalStats", "encoding_costs", "format_energy",
    "format_table_one", "inference_energy_j", "key_match_energy_j", "match_energy", "measure_traversal",
    "measured_inference_energy", "our_table_row", "paper_precharge_fractions", "project_energy_j",
    "record_traversal", "recorded_traversal", "reported_accuracy", "table_cells", "table_one",
]
