"""Energy of in-memory key matching and of a whole MBI inference; the paper's Table I.

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
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.hardware.sram import ArrayLayout, SRAMConfig
from mbi.validate import check_int, check_number

PAPER_GLIMPSES = 5
PAPER_LEVELS = 3.5
PAPER_KEYS_PER_LEVEL = 32
PAPER_SPLITS = 5
PAPER_MATCH_ENERGY_J = 4.7e-12
PAPER_INFERENCE_ENERGY_J = 13.16e-9
PAPER_MBI_ACCURACY_PCT = 93.04
PAPER_MBI_STORAGE_MB = 6.21
TARGET_NODE_NM = 16.0

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
        check_number(f"{own}.adc_fom_j_per_step", self.adc_fom_j_per_step, 0.0, 1e-9, "J", lo_open=True)
        check_number(f"{own}.row_cap_per_column_f", self.row_cap_per_column_f, 0.0, 1e-9, "F")
        check_number(f"{own}.precharge_overhead_cap_f", self.precharge_overhead_cap_f, 0.0, 1e-9, "F")
        check_number(f"{own}.logic_energy_per_op_j", self.logic_energy_per_op_j, 0.0, 1e-9, "J")
        check_int(f"{own}.weight_bits", self.weight_bits, 1, 64)
        check_int(f"{own}.accumulator_bits", self.accumulator_bits, 1, 128)

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
        check_number(f"inference_energy_j.{name}", value, 0.0, 1e12, "")
    return glimpses * mean_levels * mean_keys_per_level * splits * match_energy_j


def project_energy_j(energy_j: float, technology_nm: float, target_nm: float = TARGET_NODE_NM) -> float:
    """The paper's optimistic node projection ``E_T * (target / T)**2`` (Table I footnote)."""
    check_number("project_energy_j.technology_nm", technology_nm, 0.0, 1e6, "nm", lo_open=True)
    check_number("project_energy_j.target_nm", target_nm, 0.0, 1e6, "nm", lo_open=True)
    return energy_j * (target_nm / technology_nm) ** 2


@dataclass(frozen=True)
class TableRow:
    """One column of the paper's Table I (a design compared on MNIST); None = not applicable."""

    work: str
    technology_nm: float
    model: str
    weights: int | None
    weight_bits: int | None
    macs: int | None
    tops_per_w: float | None
    storage_mb: float
    accuracy_pct: float
    energy_j: float


CIM_MACROS: tuple[TableRow, ...] = (
    TableRow("CIM [12] (Lee et al. 2021)", 28, "MLP", 930_816, 8, 930_816, 18.45, 0.88, 99.15, 100.9e-9),
    TableRow("CIM [13] (Si et al. 2020)", 55, "ResNet20", 272_650, 5, 114_947_584, 18.37, 0.162, 99.52, 12.51e-6),
    TableRow("CIM [14] (Biswas & Chandrakasan 2019)", 65, "LeNet", 61_706, 1, 411_240, 40.3, 0.007, 98.0, 20.4e-9),
)
"""The three compute-in-memory macros of Table I, with the paper's numbers."""


PAPER_MBI_ROW = TableRow("MBI (paper)", 16, "RAM", None, None, None, None, PAPER_MBI_STORAGE_MB,
                         PAPER_MBI_ACCURACY_PCT, PAPER_INFERENCE_ENERGY_J)
"""The paper's own MBI column of Table I."""


def table_one(mbi_accuracy_pct: float = PAPER_MBI_ACCURACY_PCT, mbi_storage_mb: float = PAPER_MBI_STORAGE_MB,
              mbi_energy_j: float = PAPER_INFERENCE_ENERGY_J,
              target_nm: float = TARGET_NODE_NM, mbi_work: str = "MBI (this work)",
              include_paper_mbi: bool = False) -> list[dict[str, Any]]:
    """Table I rows (MBI first): every column of the paper plus the energy projected to ``target_nm``
    and how many times MBI's energy it is. MBI's accuracy, storage and energy are arguments so measured
    numbers can replace the paper's (the defaults); ``mbi_work`` labels that row and
    ``include_paper_mbi`` adds the paper's own MBI row after it (for a measured row)."""
    check_number("table_one.mbi_accuracy_pct", mbi_accuracy_pct, 0.0, 100.0, "%")
    check_number("table_one.mbi_storage_mb", mbi_storage_mb, 0.0, 1e9, "MB")
    check_number("table_one.mbi_energy_j", mbi_energy_j, 0.0, 1.0, "J", lo_open=True)
    mbi = TableRow(mbi_work, 16, "RAM", None, None, None, None, mbi_storage_mb, mbi_accuracy_pct, mbi_energy_j)
    rows = []
    for row in (mbi, *((PAPER_MBI_ROW,) if include_paper_mbi else ()), *CIM_MACROS):
        projected = project_energy_j(row.energy_j, row.technology_nm, target_nm)
        rows.append({**asdict(row), "energy_projected_j": projected, "energy_vs_mbi": projected / mbi_energy_j})
    return rows


TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("work", "Work"), ("technology_nm", "Technology (nm)"), ("model", "Model"), ("weights", "#Weights"),
    ("weight_bits", "Weight precision (bit)"), ("macs", "#MACs"), ("tops_per_w", "TOPS/W"),
    ("storage_mb", "Storage (MB)"), ("accuracy_pct", "Accuracy (%)"), ("energy_j", "Energy/inference"),
    ("energy_projected_j", "Projected to 16 nm"), ("energy_vs_mbi", "x MBI energy"),
)
"""Table I columns: (row key, header)."""


def format_energy(joules: float) -> str:
    """Energy with an SI prefix, e.g. ``13.16 nJ`` or ``1.06 uJ``."""
    for scale, unit in ((1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"), (1e-12, "pJ")):
        if abs(joules) >= scale:
            return f"{joules / scale:.4g} {unit}"
    return f"{joules / 1e-15:.4g} fJ"


def table_cells(rows: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Table I as display strings, one list per row in :data:`TABLE_COLUMNS` order ('-' = not applicable)."""

    def cell(key: str, value: Any) -> str:
        if value is None:
            return "-"
        if key in ("energy_j", "energy_projected_j"):
            return format_energy(value)
        if key == "energy_vs_mbi":
            return f"{value:.2f}"
        if isinstance(value, int) and key in ("weights", "macs"):
            return f"{value:,}"
        return f"{value:g}" if isinstance(value, float) else str(value)

    return [[cell(key, row[key]) for key, _ in TABLE_COLUMNS] for row in rows]


def format_table_one(rows: Sequence[dict[str, Any]], fmt: str = "markdown") -> str:
    """Table I as Markdown (readable units) or CSV (raw numbers in SI units, for further processing)."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([key for key, _ in TABLE_COLUMNS])
        writer.writerows([["" if row[key] is None else row[key] for key, _ in TABLE_COLUMNS] for row in rows])
        return buffer.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(h for _, h in TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
        lines += ["| " + " | ".join(cells) + " |" for cells in table_cells(rows)]
        return "\n".join(lines) + "\n"
    raise ValueError(f"format must be 'markdown' or 'csv', got {fmt!r}")


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


def measure_traversal(model: Any, table: Any, images: np.ndarray, labels: np.ndarray,
                      weights: Sequence[float] = (1.0, 1.0, 1.0), *, tree: TreeConfig | None = None, split: str = "val",
                      exact: bool = True) -> TraversalStats:
    """Build a :class:`mbi.search.searchers.KMeansTree` per glimpse step of ``table`` and run lookup-only MBI on ``images``.

    ``tree``: the tree settings (:class:`mbi.config.TreeConfig`; default its defaults).

    Records what each lookup costs (levels, centroids, leaf keys) and the accuracy; ``exact``
    also runs brute-force search for the accuracy the tree gives up.
    """
    from mbi.inference.lookup import StepIndex, lookup_infer  # heavy (torch): only when measuring

    images, labels = np.asarray(images), np.asarray(labels)
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need at least one image and one label per image, got {len(images)} and {len(labels)}")
    tree = TreeConfig() if tree is None else tree
    index = StepIndex(table, weights, "tree", tree=tree)
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
        if tree.checks == 1:
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
    return TraversalStats(int(len(images)), split, tuple(float(w) for w in weights), tree.branching, tree.leaf_size,
                          tree.checks,
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
    from mbi.model.checkpoint import Checkpoint

    test = Checkpoint.of(checkpoint).lookup.split("test")
    for value, label, name in ((test.lookup_accuracy, "lookup-only, test split", "test_lookup_accuracy"),
                               (test.mixed_accuracy, "mixed MBI, test split", "test_mixed_accuracy")):
        if value is not None:
            pct = 100 * value if value <= 1 else value
            if "mixed" in label and test.mixed_lookup_share is not None:
                label += f", {100 * test.mixed_lookup_share:.1f}% by lookup"
            return pct, f"{label} (lookup.json {name})"
    return None


def encoding_costs(layouts: Sequence[ArrayLayout], config: EnergyConfig | None = None) -> list[dict[str, Any]]:
    """Columns, arrays and energy per key match of each layout (e.g. binary vs thermometer of one key)."""
    config = config or EnergyConfig()
    return [{"encoding": lay.encoding, "columns_per_key": lay.n_columns, "arrays_per_key": lay.n_arrays,
             "energy_per_key_match_j": key_match_energy_j(lay, config)} for lay in layouts]


__all__ = [
    "CIM_MACROS", "COMPONENTS", "EnergyConfig", "PAPER_MBI_ROW", "TABLE_COLUMNS", "TableRow", "TraversalStats",
    "encoding_costs", "format_energy", "format_table_one", "inference_energy_j", "key_match_energy_j",
    "match_energy", "measure_traversal", "measured_inference_energy", "paper_precharge_fractions",
    "project_energy_j", "reported_accuracy", "table_cells", "table_one",
]
