"""``python -m mbi energy``: energy per match (Fig. 6(c)), per inference and the paper's Table I."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from mbi import plots
from mbi.energy import (COMPONENTS, PAPER_GLIMPSES, PAPER_KEYS_PER_LEVEL, PAPER_LEVELS, PAPER_MATCH_ENERGY_J,
                        PAPER_MBI_ACCURACY_PCT, PAPER_MBI_STORAGE_MB, PAPER_SPLITS, TABLE_COLUMNS, EnergyConfig,
                        format_energy, format_table_one, inference_energy_j, match_energy, table_cells, table_one)
from mbi.sram import SRAMConfig
from mbi.store import atomic_write_json, atomic_write_text


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``energy`` command."""
    p = subparsers.add_parser("energy", help="energy per key match and per inference; Table I vs CIM macros")
    p.add_argument("--format", choices=("markdown", "csv"), default="markdown", help="how Table I is printed")
    p.add_argument("--adc-bits", type=int, default=SRAMConfig.adc_bits, help="ADC resolution of the modelled match")
    p.add_argument("--rows", type=int, default=SRAMConfig.rows, help="array rows of the modelled match")
    p.add_argument("--cols", type=int, default=SRAMConfig.cols, help="array columns of the modelled match")
    p.add_argument("--glimpses", type=float, default=PAPER_GLIMPSES, help="glimpses per image")
    p.add_argument("--levels", type=float, default=PAPER_LEVELS, help="mean tree levels visited per lookup")
    p.add_argument("--keys", type=float, default=PAPER_KEYS_PER_LEVEL, help="mean keys compared per visited level")
    p.add_argument("--splits", type=float, default=PAPER_SPLITS, help="arrays each key is split over")
    p.add_argument("--match-pj", type=float, default=PAPER_MATCH_ENERGY_J * 1e12,
                   help="energy per match used for the per-inference figure and Table I (pJ; paper: 4.7)")
    p.add_argument("--accuracy", type=float, default=PAPER_MBI_ACCURACY_PCT, help="MBI accuracy for Table I (%%)")
    p.add_argument("--storage-mb", type=float, default=PAPER_MBI_STORAGE_MB, help="MBI storage for Table I (MB)")
    p.add_argument("--out", type=Path, help="folder for energy.json, table1.csv/.md, fig6c.html, table1.html")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the breakdown, the per-inference energies and Table I; optionally save them."""
    config = EnergyConfig(sram=replace(SRAMConfig(), adc_bits=args.adc_bits, rows=args.rows, cols=args.cols))
    parts = match_energy(config)
    per_inference = inference_energy_j(args.glimpses, args.levels, args.keys, args.splits, args.match_pj * 1e-12)
    modelled = inference_energy_j(args.glimpses, args.levels, args.keys, args.splits, parts["total"])
    rows = table_one(args.accuracy, args.storage_mb, per_inference)
    table = format_table_one(rows, args.format)

    print(f"energy per key/query match on one {args.rows}x{args.cols} array ({args.adc_bits}-bit ADC, 16 nm model):")
    for name in COMPONENTS:
        print(f"  {name:<16} {parts[name] * 1e12:7.3f} pJ  ({100 * parts[name] / parts['total']:4.1f}%)")
    print(f"  {'total':<16} {parts['total'] * 1e12:7.3f} pJ  (paper: ~{PAPER_MATCH_ENERGY_J * 1e12:g} pJ)")
    factors = f"{args.glimpses:g} glimpses x {args.levels:g} levels x {args.keys:g} keys x {args.splits:g} splits"
    print(f"energy per inference = {factors} x {args.match_pj:g} pJ = {format_energy(per_inference)}")
    print(f"  with the modelled {parts['total'] * 1e12:.3f} pJ per match: {format_energy(modelled)}")
    print("\nTable I (other works projected to 16 nm as E_T x (16 nm / T)^2):")
    print(table, end="")
    if args.out:
        atomic_write_json(args.out / "energy.json", {
            "config": config.to_dict(), "match_energy_j": parts, "inference_energy_j": per_inference,
            "inference_energy_modelled_match_j": modelled,
            "inference_factors": {"glimpses": args.glimpses, "levels": args.levels, "keys_per_level": args.keys,
                                  "splits": args.splits, "match_energy_j": args.match_pj * 1e-12},
            "table_one": rows})
        atomic_write_text(args.out / "table1.csv", format_table_one(rows, "csv"))
        atomic_write_text(args.out / "table1.md", format_table_one(rows, "markdown"))
        atomic_write_text(args.out / "fig6c.html", plots.energy_breakdown(
            {k: parts[k] for k in COMPONENTS}).to_html(include_plotlyjs="cdn"))
        atomic_write_text(args.out / "table1.html", plots.table_figure(
            [h for _, h in TABLE_COLUMNS], table_cells(rows), "Table I: MBI vs CIM on MNIST").to_html(
            include_plotlyjs="cdn"))
        print(f"wrote {args.out}/energy.json, table1.csv, table1.md, fig6c.html, table1.html")
    return 0
