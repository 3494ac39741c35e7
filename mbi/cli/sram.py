"""``python -m mbi sram``: Monte Carlo of the in-memory search array (paper Fig. 6(b)).

Prints the sum-line voltage spread per distance level, the smallest gap between
neighbouring levels and the ADC's wrong-code rate; ``--compare-encodings`` adds what
binary-coded elements compute versus eq. (1) and what thermometer coding costs.

``--accuracy`` instead measures lookup-only accuracy of a checkpoint's full table on
validation images with the search on the array model (:mod:`mbi.hardware.nonideal`): against
``--sigmas`` at a ``--sigma-sweep-adc-bits`` ADC and against ``--adc-bits`` at each of
``--adc-sweep-sigmas``, for binary and thermometer coding.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from mbi import plots
from mbi.cli.options import (add_lookup_options, add_tree_options, checkpoint_of, image_count, images_of, table_of,
                             tree_of, weights_of)
from mbi.hardware.nonideal import DEFAULT_ADC_BITS, DEFAULT_SIGMAS_MV, PAPER_ADC_BITS, PAPER_SIGMA_MV, NonidealSweep
from mbi.hardware.energy import encoding_costs, EnergyConfig, format_energy
from mbi.hardware.sram import (ENCODINGS, LevelStats, SRAMConfig, build_layout, compare_with_eq1, element_distance_table,
                      key_parts_from_ram, level_statistics, synthetic_table)
from mbi.store import atomic_write_json, atomic_write_text

COMPARE_KEYS = 2000
COMPARE_QUERIES = 200


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sram`` command."""
    p = subparsers.add_parser("sram", help="sum-line voltages, level gaps and ADC errors under V_TH variation")
    p.add_argument("--sigma-mv", type=float, default=60.0, help="threshold-voltage spread per transistor (mV)")
    p.add_argument("--adc-bits", nargs="+", default=None, metavar="BITS",
                   help="ADC resolution (bits; default 5); with --accuracy a list to sweep (default 3 4 5 6 7 8)")
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
    p.add_argument("--out", type=Path, help="folder for fig6b.html, sram_levels.json/.csv (and encodings.json); "
                   "with --accuracy: nonideal.json, accuracy_vs_sigma.html, accuracy_vs_adc_bits.html")
    a = p.add_argument_group("lookup accuracy on the array model (--accuracy)")
    a.add_argument("--accuracy", action="store_true",
                   help="lookup-only accuracy vs sigma_VTH and ADC bits with the search on the array model")
    add_lookup_options(a, checkpoint_flag=True, images=500, tree=False)
    a.add_argument("--sigmas", nargs="+", default=None, metavar="MV",
                   help="sigma_VTH values to sweep (mV; default 0 20 40 60 80 100)")
    a.add_argument("--sigma-sweep-adc-bits", type=int, default=PAPER_ADC_BITS,
                   help="ADC resolution of the sigma sweep (bits)")
    a.add_argument("--adc-sweep-sigmas", nargs="+", default=None, metavar="MV",
                   help=f"sigma_VTH of the ADC sweep, one curve each (mV; default {PAPER_SIGMA_MV:g})")
    a.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=ENCODINGS)
    a.add_argument("--no-ideal", action="store_true", help="skip the variation-free, ADC-free point per encoding")
    a.add_argument("--search", choices=("brute", "tree"), default="brute",
                   help="brute: every step row on the circuit; tree: digital k-means routing, leaf on the circuit")
    add_tree_options(a)
    p.set_defaults(func=run)


def _numbers(values: list[str] | None, default: tuple, kind: type, flag: str) -> list:
    """Numbers given space- or comma-separated (``--sigmas 0 20`` or ``--sigmas 0,20``), or ``default``."""
    if values is None:
        return list(default)
    items = [v for text in values for v in text.split(",") if v.strip()]
    try:
        return [kind(v) for v in items]
    except ValueError as exc:
        raise ValueError(f"{flag} expects {'integers' if kind is int else 'numbers'}, got {' '.join(values)!r}") \
            from exc


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


def _print_point(point: Any, done: int, total: int) -> None:
    bits = "ideal ADC" if point.adc_bits is None else f"{point.adc_bits}-bit ADC"
    print(f"[{done}/{total}] {point.encoding:>11}, sigma {point.sigma_mv:5.1f} mV, {bits:>9}: "
          f"accuracy {100 * point.accuracy:6.2f}%  same class as exact {100 * point.agrees_with_exact:6.2f}%  "
          f"eq.(1)-nearest {100 * point.nearest_share:6.2f}% of lookups  ({point.seconds:.0f} s)", flush=True)


def print_sweep(sweep: NonidealSweep) -> None:
    """The sweep as two readable tables (accuracy %, vs sigma and vs ADC bits)."""
    print(f"\nexact digital {sweep.search} search: {100 * sweep.exact_accuracy:.2f}% "
          f"({sweep.images} images, weights {list(sweep.weights)})")
    for enc in sweep.arrays:
        ideal = sweep.point(enc, 0.0, None)
        levels = sorted({a["levels"] for a in sweep.arrays[enc]})
        print(f"{enc}: {len(sweep.arrays[enc])} arrays per key, {levels} levels per array"
              + (f"; no variation, ideal ADC: {100 * ideal.accuracy:.2f}%" if ideal else ""))
    print("sigma_VTH (mV)         " + " ".join(f"{s:>7g}" for s in sweep.sigmas_mv))
    for name, acc in sweep.sigma_series().items():
        print(f"{name:<23}" + " ".join(f"{a:7.2f}" for a in acc))
    print("ADC bits               " + " ".join(f"{b:>7d}" for b in sweep.adc_bits))
    for name, acc in sweep.adc_series().items():
        print(f"{name:<23}" + " ".join(f"{a:7.2f}" for a in acc))


def run_accuracy(args: argparse.Namespace) -> int:
    """``--accuracy``: lookup accuracy of the checkpoint's table with the search on the array model."""
    from mbi.hardware.nonideal import accuracy_sweep

    sigmas = _numbers(args.sigmas, DEFAULT_SIGMAS_MV, float, "--sigmas")
    bits = _numbers(args.adc_bits, DEFAULT_ADC_BITS, int, "--adc-bits")
    adc_sigmas = _numbers(args.adc_sweep_sigmas, (PAPER_SIGMA_MV,), float, "--adc-sweep-sigmas")
    image_count(args)
    ckpt = checkpoint_of(args)
    weights = weights_of(args, ckpt)
    tree = tree_of(args) if args.search == "tree" else None
    config = replace(SRAMConfig(), rows=args.rows, cols=args.cols, discharge_time_s=args.discharge_ns * 1e-9)
    table = table_of(args, ckpt)
    x, y = images_of(args, ckpt)
    print(f"{len(x)} {args.split} images, table of {len(table)} rows ({args.checkpoint}), weights {list(weights)}, "
          f"{args.search} search on the array model ({config.rows}x{config.cols}, discharge "
          f"{config.discharge_time_s * 1e9:g} ns, seed {args.seed})", flush=True)
    sweep_args = {"checkpoint": str(args.checkpoint), "split": args.split}

    done_points: list[dict[str, Any]] = []

    def progress(point: Any, done: int, total: int) -> None:
        _print_point(point, done, total)
        done_points.append(asdict(point))
        if args.out:  # saved as they arrive; the full sweep replaces it at the end
            atomic_write_json(args.out / "nonideal.json", {**sweep_args, "partial": True, "points": done_points})

    sweep = accuracy_sweep(ckpt.model, table, x, y, weights=weights, encodings=args.encodings, sigmas_mv=sigmas,
                           adc_bits=bits, sigma_sweep_adc_bits=args.sigma_sweep_adc_bits,
                           adc_sweep_sigmas_mv=adc_sigmas, include_ideal=not args.no_ideal, search=args.search,
                           tree=tree, config=config, seed=args.seed,
                           progress=progress)
    print_sweep(sweep)
    if args.out:
        atomic_write_json(args.out / "nonideal.json", {**sweep_args, **sweep.to_dict()})
        exact = 100 * sweep.exact_accuracy
        atomic_write_text(args.out / "accuracy_vs_sigma.html", plots.accuracy_vs_sigma(
            sweep.sigmas_mv, sweep.sigma_series(), exact).to_html(include_plotlyjs="cdn"))
        atomic_write_text(args.out / "accuracy_vs_adc_bits.html", plots.accuracy_vs_adc_bits(
            sweep.adc_bits, sweep.adc_series(), exact).to_html(include_plotlyjs="cdn"))
        print(f"wrote {args.out}/nonideal.json, accuracy_vs_sigma.html, accuracy_vs_adc_bits.html")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the Monte Carlo (or, with ``--accuracy``, the lookup-accuracy sweep), print it and optionally save."""
    if args.accuracy:
        return run_accuracy(args)
    adc_bits = _numbers(args.adc_bits, (PAPER_ADC_BITS,), int, "--adc-bits")
    if len(adc_bits) != 1:
        raise ValueError(f"--adc-bits takes one value for the Monte Carlo (a list only with --accuracy), "
                         f"got {adc_bits}")
    config = replace(SRAMConfig(), sigma_vth_v=args.sigma_mv * 1e-3, adc_bits=adc_bits[0], rows=args.rows,
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
