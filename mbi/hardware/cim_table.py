"""The paper's Table I: MBI beside three compute-in-memory macros on MNIST, energies projected to 16 nm.

The CIM rows are the paper's numbers; MBI's row takes the paper's numbers by default and measured
ones when given (:func:`mbi.hardware.energy.our_table_row` builds ours). Energies of other nodes are
projected as the paper does, ``E_T * (16 nm / T)**2``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from mbi.hardware.sram import check_number

PAPER_INFERENCE_ENERGY_J = 13.16e-9
PAPER_MBI_ACCURACY_PCT = 93.04
PAPER_MBI_STORAGE_MB = 6.21
TARGET_NODE_NM = 16.0


def project_energy_j(energy_j: float, technology_nm: float, target_nm: float = TARGET_NODE_NM) -> float:
    """The paper's optimistic node projection ``E_T * (target / T)**2`` (Table I footnote)."""
    check_number("project_energy_j", "technology_nm", technology_nm, 0.0, 1e6, "nm", lo_open=True)
    check_number("project_energy_j", "target_nm", target_nm, 0.0, 1e6, "nm", lo_open=True)
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
    storage_mb: float | None
    accuracy_pct: float | None
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


def table_one(mbi_accuracy_pct: float | None = PAPER_MBI_ACCURACY_PCT,
              mbi_storage_mb: float | None = PAPER_MBI_STORAGE_MB, mbi_energy_j: float = PAPER_INFERENCE_ENERGY_J,
              target_nm: float = TARGET_NODE_NM, mbi_work: str = "MBI (this work)",
              include_paper_mbi: bool = False) -> list[dict[str, Any]]:
    """Table I rows (MBI first): every column of the paper plus the energy projected to ``target_nm``
    and how many times MBI's energy it is. MBI's accuracy, storage and energy are arguments so measured
    numbers can replace the paper's (the defaults; None = not measured, shown as '-'); ``mbi_work``
    labels that row and ``include_paper_mbi`` adds the paper's own MBI row after it (for a measured row)."""
    if mbi_accuracy_pct is not None:
        check_number("table_one", "mbi_accuracy_pct", mbi_accuracy_pct, 0.0, 100.0, "%")
    if mbi_storage_mb is not None:
        check_number("table_one", "mbi_storage_mb", mbi_storage_mb, 0.0, 1e9, "MB")
    check_number("table_one", "mbi_energy_j", mbi_energy_j, 0.0, 1.0, "J", lo_open=True)
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
