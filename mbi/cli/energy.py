"""``python -m mbi energy``: energy per match (Fig. 6(c)), per inference and the paper's Table I.

``--measured`` replaces the paper's averages by a real traversal: a k-means tree per glimpse
step of the checkpoint's full table, lookup-only MBI on validation images, and from it the
mean levels, keys compared per lookup and arrays per key of the model's key layout; ``--record``
keeps that traversal beside the checkpoint (``traversal.json``), so our row of Table I
(:func:`mbi.hardware.energy.our_table_row`, also on the dashboard's Overview and in the reproduce
report) uses it from then on. ``--json`` prints that row for ``--checkpoint`` as JSON.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from mbi import plots
from mbi.cli.options import add_lookup_options
from mbi.data import DEFAULT_DATASET, dataset_info
from mbi.hardware.energy import (COMPONENTS, PAPER_GLIMPSES, PAPER_KEYS_PER_LEVEL, PAPER_LEVELS, PAPER_MATCH_ENERGY_J,
                        PAPER_MBI_ACCURACY_PCT, PAPER_MBI_STORAGE_MB, PAPER_SPLITS, TABLE_COLUMNS, EnergyConfig,
                        TraversalRecord, format_energy, format_table_one, inference_energy_j, match_energy,
                        measure_traversal, measured_inference_energy, our_table_row, record_traversal, table_cells,
                        table_one)
from mbi.model.checkpoint import Checkpoint
from mbi.hardware.sram import ENCODINGS, SRAMConfig, build_layout, key_parts_from_layout
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
    p.add_argument("--accuracy", type=float, default=None,
                   help=f"MBI accuracy for Table I (%%; default: paper {PAPER_MBI_ACCURACY_PCT}, with --measured "
                        "lookup.json's test accuracy, else the measured validation lookup accuracy)")
    p.add_argument("--storage-mb", type=float, default=None,
                   help=f"MBI storage for Table I (MB; default: paper {PAPER_MBI_STORAGE_MB}, "
                        "with --measured the table's)")
    p.add_argument("--out", type=Path, help="folder for energy.json, table1.csv/.md, fig6c.html, table1.html "
                                            "(with --measured also traversal.json)")
    p.add_argument("--json", action="store_true",
                   help="print only our row of Table I for --checkpoint as JSON (energy per inference with the "
                        "traversal it assumes, accuracy, storage)")
    m = p.add_argument_group("measured traversal (--measured)")
    m.add_argument("--measured", action="store_true",
                   help="levels, keys per lookup and arrays per key from a real tree on the checkpoint's full table")
    add_lookup_options(m, checkpoint_flag=True, splits=None, images=10_000)
    m.add_argument("--encoding", choices=ENCODINGS, default="thermometer",
                   help="key coding of Table I's measured row (both are printed)")
    m.add_argument("--no-exact", action="store_true", help="skip the brute-force accuracy reference")
    m.add_argument("--record", action="store_true",
                   help="keep the measured traversal beside the checkpoint (traversal.json): our row of Table I "
                        "(CLI, dashboard, reproduce report) then uses it")
    p.set_defaults(func=run)


def run_measured(args: argparse.Namespace, config: EnergyConfig) -> int:
    """``--measured``: traversal statistics, energy per inference per encoding and Table I with the measured row."""
    from mbi.cli.options import checkpoint_of, image_count, images_of, table_of, tree_of, weights_of

    image_count(args)
    ckpt = checkpoint_of(args)
    weights = weights_of(args, ckpt)
    tree = tree_of(args)
    table = table_of(args, ckpt)
    x, y = images_of(args, ckpt)
    print(f"measuring: {len(x)} validation images, table of {len(table)} rows ({args.checkpoint}), weights "
          f"{list(weights)}, k-means tree per step (branching {tree.branching}, leaf size {tree.leaf_size}, "
          f"checks {tree.checks})", flush=True)
    stats = measure_traversal(ckpt.model, table, x, y, weights, tree=tree, exact=not args.no_exact)
    print(f"{'step':>4} {'rows':>7} {'height':>6} {'levels':>7} {'centroids':>9} {'leaf keys':>9} {'compared':>8}")
    for t in range(stats.lookups):
        print(f"{t + 1:>4} {stats.rows[t]:>7} {stats.height[t]:>6} {stats.mean_levels[t]:7.2f} "
              f"{stats.mean_centroids[t]:9.2f} {stats.mean_leaf_keys[t]:9.2f} {stats.mean_comparisons[t]:8.2f}")
    print(f"per lookup: {stats.levels_per_lookup:.2f} levels, {stats.comparisons_per_inference / stats.lookups:.2f} "
          f"keys compared; per inference: {stats.lookups} lookups, {stats.comparisons_per_inference:.1f} key matches")
    exact = "" if stats.exact_accuracy is None else f" (brute force {100 * stats.exact_accuracy:.2f}%)"
    print(f"lookup-only accuracy with these trees: {100 * stats.tree_accuracy:.2f}% on {stats.images} validation "
          f"images{exact}")
    energies = {}
    for enc in ENCODINGS:
        layout = build_layout(key_parts_from_layout(table.layout), enc, config.sram.cols)
        e = energies[enc] = measured_inference_energy(stats, layout, config)
        f = e["paper_form"]
        print(f"{enc:>11}: {e['arrays_per_key']} arrays per key, {format_energy(e['energy_per_key_match_j'])} per key "
              f"match -> {format_energy(e['energy_per_inference_j'])} per inference = {f['glimpses']} glimpses x "
              f"{f['mean_levels']:.2f} levels x {f['mean_keys_per_level']:.2f} keys per level x {f['splits']} splits "
              f"x {f['match_energy_j'] * 1e12:.3f} pJ")
    storage = table.storage_bytes()
    record = TraversalRecord(ckpt.hash, stats, storage, args.encoding)
    ours = our_table_row(ckpt, config=config, record=record, encoding=args.encoding,
                         accuracy=None if args.accuracy is None else (args.accuracy, "given with --accuracy"),
                         storage_mb=None if args.storage_mb is None else (args.storage_mb, "given with --storage-mb"))
    rows = ours.table_rows()
    print(f"\n{_describe(ours)} (other works projected to 16 nm as E_T x (16 nm / T)^2"
          f"{_others_note(ckpt.dataset)}):")
    print(format_table_one(rows, args.format), end="")
    if args.record:
        print(f"recorded the traversal in {record_traversal(ckpt.folder, record)}")
    if args.out:
        atomic_write_json(args.out / "traversal.json", {
            **record.to_dict(), "checkpoint": str(args.checkpoint), "energy": energies, "config": config.to_dict(),
            "ours": ours.to_dict(), "table_one": rows})
        atomic_write_text(args.out / "table1.csv", format_table_one(rows, "csv"))
        atomic_write_text(args.out / "table1.md", format_table_one(rows, "markdown"))
        atomic_write_text(args.out / "table1.html", plots.table_figure(
            [h for _, h in TABLE_COLUMNS], table_cells(rows), table_one_title(ckpt.dataset, measured=True)).to_html(
            include_plotlyjs="cdn"))
        print(f"wrote {args.out}/traversal.json, table1.csv, table1.md, table1.html")
    return 0


def table_one_title(dataset: str, measured: bool) -> str:
    """Title of a Table I whose MBI row (ours) is on ``dataset``, e.g. ``Table I: MBI (measured) vs CIM on MNIST``.

    The compute-in-memory macros' rows (and the paper's MBI row) are always MNIST's, so for another dataset
    the title names both."""
    mbi = "MBI (measured)" if measured else "MBI"
    if dataset == DEFAULT_DATASET:
        return f"Table I: {mbi} vs CIM on MNIST"
    return f"Table I: {mbi} on {dataset_info(dataset).title} vs CIM (the CIM macros and the paper's MBI: MNIST)"


def _others_note(dataset: str) -> str:
    """What the CLI adds after Table I's projection note when our row is not MNIST's ('' for MNIST)."""
    if dataset == DEFAULT_DATASET:
        return ""
    return f"; our row is on {dataset_info(dataset).title}, the CIM macros' and the paper's rows are MNIST's"


def _describe(ours) -> str:
    """Our row of Table I in one paragraph: energy and its traversal, accuracy and storage with their sources."""
    acc = "-" if ours.accuracy_pct is None else f"{ours.accuracy_pct:.2f}%"
    mb = "-" if ours.storage_mb is None else f"{ours.storage_mb:.2f} MB"
    return (f"Table I, our row ({ours.work}): energy {format_energy(ours.energy_j)} per inference assuming "
            f"{ours.traversal_text}; accuracy {acc} ({ours.accuracy_label}); storage {mb} ({ours.storage_label})")


def run(args: argparse.Namespace) -> int:
    """Print the breakdown, the per-inference energies and Table I; optionally save them."""
    config = EnergyConfig(sram=replace(SRAMConfig(), adc_bits=args.adc_bits, rows=args.rows, cols=args.cols))
    if args.json:
        if args.measured:
            raise ValueError("--json prints the recorded row: measure first with `--measured --record`, "
                             "then run `--json` without --measured")
        ours = our_table_row(args.checkpoint, config=config)
        print(json.dumps({**ours.to_dict(), "checkpoint": str(args.checkpoint), "table_one": ours.table_rows()},
                         indent=1))
        return 0
    if args.record and not args.measured:
        raise ValueError("--record keeps a measured traversal: use it with --measured")
    if args.measured:
        return run_measured(args, config)
    parts = match_energy(config)
    per_inference = inference_energy_j(args.glimpses, args.levels, args.keys, args.splits, args.match_pj * 1e-12)
    modelled = inference_energy_j(args.glimpses, args.levels, args.keys, args.splits, parts["total"])
    accuracy = PAPER_MBI_ACCURACY_PCT if args.accuracy is None else args.accuracy
    storage_mb = PAPER_MBI_STORAGE_MB if args.storage_mb is None else args.storage_mb
    rows = table_one(accuracy, storage_mb, per_inference)
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
    try:
        ckpt = Checkpoint(args.checkpoint)
        ours = our_table_row(ckpt, config=config)
        print(f"\n{_describe(ours)}{_others_note(ckpt.dataset)}; `--json` prints it, `--measured` shows its "
              "Table I.")
    except (FileNotFoundError, ValueError) as exc:  # the paper's numbers above need no checkpoint
        ours = None
        print(f"\nno row of ours for checkpoint {args.checkpoint!r}: {exc}")
    if args.out:
        atomic_write_json(args.out / "energy.json", {
            "config": config.to_dict(), "match_energy_j": parts, "inference_energy_j": per_inference,
            "inference_energy_modelled_match_j": modelled, "ours": ours and ours.to_dict(),
            "inference_factors": {"glimpses": args.glimpses, "levels": args.levels, "keys_per_level": args.keys,
                                  "splits": args.splits, "match_energy_j": args.match_pj * 1e-12},
            "table_one": rows})
        atomic_write_text(args.out / "table1.csv", format_table_one(rows, "csv"))
        atomic_write_text(args.out / "table1.md", format_table_one(rows, "markdown"))
        atomic_write_text(args.out / "fig6c.html", plots.energy_breakdown(
            {k: parts[k] for k in COMPONENTS}).to_html(include_plotlyjs="cdn"))
        atomic_write_text(args.out / "table1.html", plots.table_figure(
            [h for _, h in TABLE_COLUMNS], table_cells(rows), table_one_title(DEFAULT_DATASET, measured=False)).to_html(
            include_plotlyjs="cdn"))
        print(f"wrote {args.out}/energy.json, table1.csv, table1.md, fig6c.html, table1.html")
    return 0
