"""Search speed: our packed brute force vs faiss and scikit-learn; k-means tree vs brute force.

    python -m benchmarks.bench_search                      # synthetic table, ~100k rows
    python -m benchmarks.bench_search --table T.npz        # a real table

A real table is either one written by :func:`mbi.memory.lut.save_table` (``--step T`` keeps the
rows of glimpse step ``T``, as the lookup does), or an ``.npz`` with ``keys`` (uint8 [N, D]),
the five :class:`KeyLayout` fields as scalars (``patch_len``, ``patch_levels``,
``hidden_len``, ``hidden_levels``, ``loc_levels``) and optional ``queries`` (uint8 [Q, D]).
Without queries, ``--queries`` random rows are held out of the table and used as queries.

Faiss (``IndexBinaryFlat``, Hamming on the same packed thermometer bits) and scikit-learn
(``NearestNeighbors(metric="manhattan", algorithm="brute")`` on the integer levels) only
know the unweighted distance, so they are compared on ``a = b = c = 1``, where all three
must return the same distances (asserted). Everything runs with ``--threads`` threads.
Results are printed and written as the ``## Search`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from benchmarks.synthetic_table import make_table
from mbi.search.distance import KeyLayout, pack
from mbi.search.searchers import BruteForce, KMeansTree, compare_with_reference, tradeoff_curve

ROOT = Path(__file__).resolve().parents[1]
BO_LIKE_WEIGHTS = (0.6, 1.0, 0.3)


def best_time(fn: Callable[[], object], repeats: int = 3, min_seconds: float = 0.0,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Best time of one call of ``fn`` over at least ``repeats`` calls and ``min_seconds`` in all.

    ``clock=time.process_time`` measures CPU seconds of the process (all its threads), which other
    jobs on the machine disturb much less than wall time; use it for single-threaded runs.
    """
    times: list[float] = []
    while len(times) < repeats or (sum(times) < min_seconds and len(times) < 100):
        start = clock()
        fn()
        times.append(clock() - start)
    return min(times)


def load_table(path: Path | None, rows: int, n_queries: int, seed: int, step: int | None
               ) -> tuple[np.ndarray, np.ndarray, KeyLayout, str]:
    """``(keys, queries, layout, description)`` from ``path`` or the synthetic generator."""
    if path is None:
        keys, queries, layout = make_table(rows, n_queries, seed=seed)
        return keys, queries, layout, "synthetic (benchmarks/synthetic_table.py)"
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if "header" in arrays:  # a table written by mbi.memory.lut.save_table
        from mbi.memory.lut import load_table as load_lut

        lut = load_lut(path)
        keys, layout = lut.keys, lut.layout
        if step is not None:
            keys = keys[lut.step == step]
        queries = None
    else:
        layout = KeyLayout(*(int(arrays[f]) for f in ("patch_len", "patch_levels", "hidden_len",
                                                      "hidden_levels", "loc_levels")))
        keys, queries = layout.check_keys(arrays["keys"]), arrays.get("queries")
    what = f"{path}" + (f" (rows of step {step})" if step is not None else "")
    if queries is not None:
        return keys, layout.check_keys(queries, "queries"), layout, what
    held_out = np.random.default_rng(seed).permutation(len(keys))[:n_queries]
    mask = np.ones(len(keys), dtype=bool)
    mask[held_out] = False
    return keys[mask], keys[held_out], layout, f"{what}, {len(held_out)} rows held out as queries"


def main() -> None:
    """Run the benchmark, print it, and write the BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic table rows before merging duplicates")
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--table", type=Path, default=None, help="real table .npz (see module docstring)")
    parser.add_argument("--step", type=int, default=None, help="with a mbi.memory.lut table: only rows of this glimpse step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sklearn-queries", type=int, default=200, help="queries timed for scikit-learn (slow)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    faiss.omp_set_num_threads(args.threads)
    load = os.getloadavg()[0]
    keys, queries, layout, source = load_table(args.table, args.rows, args.queries, args.seed, args.step)
    n, nq = len(keys), len(queries)
    n_words = pack(keys[:1], layout).n_words
    lines = [f"Table: {source}, {n} rows x {layout.width} columns ({layout}); "
             f"{sum(layout.part_bits)} thermometer bits per key in {n_words} words; {nq} queries."]

    with threadpool_limits(limits=args.threads):
        # --- unweighted brute force: ours vs faiss vs scikit-learn (same distances)
        ones = (1.0, 1.0, 1.0)
        ours = BruteForce(keys, layout, ones, n_threads=args.threads)
        ours.query(queries[:16])
        result: dict = {}
        codes = ours.packed.row_bytes()
        index = faiss.IndexBinaryFlat(codes.shape[1] * 8)
        index.add(codes)
        qcodes = pack(queries, layout).row_bytes()
        ns = min(args.sklearn_queries, nq)
        nn = NearestNeighbors(n_neighbors=1, metric="manhattan", algorithm="brute", n_jobs=args.threads).fit(keys)
        wall = {
            "ours": nq / best_time(lambda: result.__setitem__("ours", ours.query(queries))),
            "faiss": nq / best_time(lambda: result.__setitem__("faiss", index.search(qcodes, 1)), min_seconds=1.0),
            "sk": ns / best_time(lambda: result.__setitem__("sk", nn.kneighbors(queries[:ns])), repeats=1),
        }
        r, (f_dist, f_index), (s_dist, _) = result["ours"], result["faiss"], result["sk"]
        assert np.array_equal(r.distance, f_dist[:, 0].astype(np.float64) / 3.0), "faiss disagrees"
        assert np.array_equal(r.distance[:ns], s_dist[:, 0] / 3.0), "scikit-learn disagrees"
        same_row_faiss = float((r.index == f_index[:, 0]).mean())

        # the same, one thread each, in queries per CPU-second
        single = BruteForce(keys, layout, ones, n_threads=1)
        n1 = min(nq, 500)
        faiss.omp_set_num_threads(1)
        nn.set_params(n_jobs=1)
        with threadpool_limits(limits=1):
            cpu = {
                "ours": n1 / best_time(lambda: single.query(queries[:n1]), repeats=3, clock=time.process_time),
                "faiss": nq / best_time(lambda: index.search(qcodes, 1), min_seconds=1.0, clock=time.process_time),
                "sk": ns / best_time(lambda: nn.kneighbors(queries[:ns]), repeats=1, clock=time.process_time),
            }
        faiss.omp_set_num_threads(args.threads)
        names = {
            "ours": "ours: `BruteForce` (numpy SWAR popcount, packed thermometer bits)",
            "faiss": "faiss `IndexBinaryFlat` (same bits)",
            "sk": f"scikit-learn `NearestNeighbors(manhattan, brute)` ({ns} queries)",
        }
        lines += [
            "",
            "Brute force, unweighted (a = b = c = 1); all three return the same distances (asserted):",
            "",
            f"| searcher | queries/s, {args.threads} threads (wall) | vs ours | queries per CPU-second, 1 thread "
            "| vs ours |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [f"| {names[k]} | {wall[k]:,.0f} | {wall[k] / wall['ours']:.2f}x | {cpu[k]:,.0f} "
                  f"| {cpu[k] / cpu['ours']:.2f}x |" for k in names]
        lines += [
            "",
            f"Same row as faiss for {100 * same_row_faiss:.1f}% of queries (the rest are ties, which faiss "
            "does not break by lowest row).",
        ]

        # --- weighted: brute force vs tree
        bf = BruteForce(keys, layout, BO_LIKE_WEIGHTS, n_threads=args.threads)
        bf_wall = nq / best_time(lambda: result.__setitem__("bf", bf.query(queries)))
        ref = result["bf"]
        bf_single = BruteForce(keys, layout, BO_LIKE_WEIGHTS, n_threads=1)
        bf_cpu = n1 / best_time(lambda: bf_single.query(queries[:n1]), repeats=3, clock=time.process_time)
        start = time.perf_counter()
        tree = KMeansTree(keys, layout, BO_LIKE_WEIGHTS)
        t_build = time.perf_counter() - start
        lines += [
            "",
            f"Weighted (a, b, c) = {BO_LIKE_WEIGHTS}: brute force {bf_wall:,.0f} queries/s with {args.threads} "
            f"threads, {bf_cpu:,.0f} per CPU-second with one. `KMeansTree` (branching 4, leaf_size 32): built in "
            f"{t_build:.1f} s, {tree.n_nodes} nodes, height {tree.height}. Tree queries run in one thread.",
            "",
            "| checks (leaves scanned) | queries/s (wall) | queries per CPU-second | vs brute force (CPU) "
            "| comparisons/query | fewer than brute force | levels | same distance as brute force "
            "| max normalized error |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        max_d = layout.max_distance(BO_LIKE_WEIGHTS)
        for checks in (1, 4, 8, 16, 32):
            t_wall = best_time(lambda c=checks: result.__setitem__("tree", tree.query(queries, checks=c)))
            t_cpu = best_time(lambda c=checks: tree.query(queries, checks=c), clock=time.process_time)
            rep = compare_with_reference(result["tree"], ref, max_d, n)
            lines.append(
                f"| {checks} | {nq / t_wall:,.0f} | {nq / t_cpu:,.0f} | {nq / t_cpu / bf_cpu:.1f}x "
                f"| {rep.mean_comparisons:,.0f} | {rep.speedup:.0f}x | {rep.mean_levels:.1f} "
                f"| {100 * rep.exact_share:.1f}% | {rep.max_normalized_error:.3f} |")

        points = tradeoff_curve(keys, layout, BO_LIKE_WEIGHTS, queries, leaf_sizes=(16, 64),
                                checks=(1, 4, 16, 64), reference=ref)
        lines += ["", "Trade-off (`mbi.search.searchers.tradeoff_curve`), other leaf sizes:", "",
                  "| leaf_size | checks | comparisons/query | fewer than brute force | same distance |",
                  "|---:|---:|---:|---:|---:|"]
        lines += [f"| {p.leaf_size} | {p.checks} | {p.mean_comparisons:,.0f} | {p.speedup:.0f}x "
                  f"| {100 * p.exact_share:.1f}% |" for p in points]

    command = "python -m benchmarks.bench_search " + " ".join(sys.argv[1:])
    header = [
        "## Search",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} threads "
        f"for every library, numpy {np.__version__}, faiss {faiss.__version__}; load average "
        f"{load:.1f} at start (other jobs may share the cores, so ratios within one run are what to compare).",
        "",
    ]
    section = "\n".join(header + lines) + "\n"
    print(section)
    if not args.no_write:
        write_section(args.output, section)
        print(f"wrote {args.output}")


def write_section(path: Path, section: str, heading: str = "## Search") -> None:
    """Replace (or append) the ``heading`` section of ``path``, leaving other sections alone."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "".join(lines[:start]) + section + ("\n" + "".join(lines[end:]) if end < len(lines) else "")
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
