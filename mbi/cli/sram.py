"""``python -m mbi sram``: Monte Carlo of the in-memory search array (paper Fig. 6(b)).

Prints the sum-line voltage spread per distance level, the smallest gap between
neighbouring levels and the ADC's wrong-code rate; ``--compare-encodings`` adds what
binary-coded elements compute versus eq. (1) and what thermometer coding costs.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from mbi import plots
from mbi.energy import encoding_costs, EnergyConfig, format_energy
from mbi.sram import (ENCODINGS, LevelStats, SRAMConfig, build_layout, compare_with_eq1, element_distance_table,
                      key_parts_from_ram, level_statistics, synthetic_table)
from mbi.store import atomic_write_json, atomic_write_text

COMPARE_KEYS = 2000
COMPARE_QUERIES = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sram`` command."""
    p = subparsers.add_parser("sram", help="sum-line voltages, level gaps and ADC errors under V_TH variation")
    p.add_argument("--sigma-mv", type=float, default=60.0, help="threshold-voltage spread per transistor (mV)")
    p.add_argument("--adc-bits", type=int, default=5, help="ADC resolution (bits)")
    p.add_argument("--rows", type=int, default=32, help="array rows (keys per array)")
    p.add_argument("--cols", type=int, default=32, help="array columns")
    p.add_argument("--element-bits", type=int, default=1,
                   help="bits per stored element: 1 = hidden state (all columns at V_P,max), 2 = patch")
    p.add_argument("--encoding", choices=ENCODINGS, default="binary",
                   help="multi-bit elements: binary (bit-significance precharge) or thermometer")
    p.add_argument("--discharge-ns", type=float, default=SRAMConfig.discharge_time_s * 1e9,
                   help="evaluate (discharge) window (ns)")
    p.add_argument("--trials", type=int, default=200, help="array instances drawn (samples = trials x rows)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare-encodings", action="store_true",
                   help="also compare binary and thermometer coding with eq. (1) on synthetic tables")
    p.add_argument("--out", type=Path, help="folder for fig6b.html, sram_levels.json/.csv (and encodings.json)")
    p.set_defaults(func=run)


def _levels_csv(stats: LevelStats) -> str:
    """Per-level numbers as CSV text."""
    rows = stats.per_level()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _print_levels(stats: LevelStats) -> None:
    """The Monte Carlo summary as a readable table plus headline lines."""
    s = stats.summary()
    cfg = stats.config
    print(f"{cfg.rows}x{cfg.cols} array, {stats.element_bits}-bit elements ({stats.encoding}), "
          f"sigma_VTH {1e3 * cfg.sigma_vth_v:g} mV, discharge {1e9 * cfg.discharge_time_s:g} ns, "
          f"{cfg.adc_bits}-bit ADC; {stats.trials} trials x {cfg.rows} rows = {s['samples_per_level']} samples "
          f"per level (seed {stats.seed})")
    print(f"{'level':>5} {'mean mV':>8} {'std mV':>7} {'min mV':>8} {'max mV':>8} {'gap mV':>7} {'ADC err':>8}")
    for r in stats.per_level():
        print(f"{r['level']:>5} {r['mean_mv']:8.2f} {r['std_mv']:7.3f} {r['min_mv']:8.2f} {r['max_mv']:8.2f} "
              f"{r['gap_to_next_mv']:7.2f} {100 * r['adc_error_rate']:7.3f}%")
    print(f"nominal step per level on (V_SLP+V_SLN)/2: {s['nominal_spacing_mv']:.2f} mV "
          f"(smallest step of the means {s['mean_spacing_mv']:.2f} mV)")
    a, b = s["min_gap_between_levels"]
    print(f"smallest gap between neighbouring levels (worst sample): {s['min_gap_mv']:.2f} mV, levels {a} and {b} "
          f"(paper: >= {s['paper_min_gap_mv']:.0f} mV)")
    print(f"ADC: {cfg.adc_bits} bits, {s['adc_distinct_codes']} codes for {s['levels']} levels; "
          f"wrong-code rate {100 * s['adc_error_rate']:.4f}% "
          f"(worst level {100 * s['worst_level_adc_error_rate']:.3f}%)")


def _compare_encodings(seed: int, cols: int) -> dict[str, Any]:
    """Binary vs thermometer on uniform and clustered synthetic tables with the default RAM's key."""
    parts = key_parts_from_ram()
    table = element_distance_table(4, "binary")
    diff = abs(table - element_distance_table(4, "thermometer"))
    result: dict[str, Any] = {"two_bit_element_pairs_differing": float((diff > 0).mean()),
                              "parts": [asdict(p) for p in parts], "keys": COMPARE_KEYS, "queries": COMPARE_QUERIES,
                              "seed": seed}
    energy = EnergyConfig(sram=SRAMConfig(cols=cols))
    result["cost"] = encoding_costs([build_layout(parts, e, cols) for e in ENCODINGS], energy)
    for clustered in (False, True):
        keys, queries = synthetic_table(parts, COMPARE_KEYS, COMPARE_QUERIES, clustered=clustered, seed=seed)
        name = "clustered" if clustered else "uniform"
        result[name] = [asdict(compare_with_eq1(keys, queries, parts, encoding=e, array_cols=cols)) for e in ENCODINGS]
    return result


def _print_comparison(res: dict[str, Any]) -> None:
    """Readable binary-vs-thermometer report."""
    print(f"\nwhat the array computes vs eq. (1) (key: "
          + ", ".join(f"{p['name']} {p['count']} x {p['levels']} levels" for p in res["parts"]) + ")")
    print(f"2-bit elements, all 16 (k, q) pairs: binary gives k XOR q, which differs from |k-q| on "
          f"{100 * res['two_bit_element_pairs_differing']:.1f}% of them (1 vs 2 reads 3)")
    for name in ("uniform", "clustered"):
        print(f"{name} synthetic table ({res['keys']} keys, {res['queries']} queries, seed {res['seed']}):")
        for c in res[name]:
            parts = ", ".join(f"{k} {100 * v:.1f}%" for k, v in c["element_mismatch_share"].items())
            print(f"  {c['encoding']:>11}: elements differing from |K-Q|: {parts}; key pairs differing "
                  f"{100 * c['pair_mismatch_share']:.1f}%; nearest key also eq.(1)-nearest "
                  f"{100 * c['nearest_agreement']:.1f}% (mean eq.(1) regret {c['mean_regret']:.3f})")
    for c in res["cost"]:
        print(f"  cost {c['encoding']:>11}: {c['columns_per_key']} columns, {c['arrays_per_key']} arrays per key, "
              f"{format_energy(c['energy_per_key_match_j'])} per key match")


def run(args: argparse.Namespace) -> int:
    """Run the Monte Carlo, print it and optionally save numbers and the figure."""
    config = replace(SRAMConfig(), sigma_vth_v=args.sigma_mv * 1e-3, adc_bits=args.adc_bits, rows=args.rows,
                     cols=args.cols, discharge_time_s=args.discharge_ns * 1e-9)
    stats = level_statistics(config, element_bits=args.element_bits, encoding=args.encoding,
                             trials=args.trials, seed=args.seed)
    _print_levels(stats)
    comparison = _compare_encodings(args.seed, args.cols) if args.compare_encodings else None
    if comparison is not None:
        _print_comparison(comparison)
    if args.out:
        atomic_write_json(args.out / "sram_levels.json", {**stats.summary(), "per_level": stats.per_level()})
        atomic_write_text(args.out / "sram_levels.csv", _levels_csv(stats))
        fig = plots.sum_line_distributions(stats.levels, stats.voltages, stats.min_gap_v, stats.min_gap_level)
        atomic_write_text(args.out / "fig6b.html", fig.to_html(include_plotlyjs="cdn"))
        if comparison is not None:
            atomic_write_json(args.out / "encodings.json", comparison)
        print(f"wrote {args.out}/sram_levels.json, sram_levels.csv, fig6b.html"
              + (", encodings.json" if comparison is not None else ""))
    return 0
