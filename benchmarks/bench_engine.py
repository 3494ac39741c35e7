"""The compiled search engine on the shipped table, against faiss and the RAM, in one run.

    python -m benchmarks.bench_engine                    # 10,000 test digits, 1 and 2 threads
    python -m benchmarks.bench_engine --images 2000 --no-write

Measured (all on the shipped default model and table, the model's recorded weights):

1. exact search per glimpse step on the real queries the test digits issue: ours (pruned
   exact, compiled full scan) vs faiss ``IndexFlat(d, METRIC_L1)`` on keys scaled by a, b, c
   (weighted) and ``IndexBinaryFlat`` on the same thermometer bits (a = b = c), in queries per
   CPU-second with one thread and queries/s with two;
2. the compiled tree vs faiss ``IndexBinaryIVF`` at the ``nprobe`` that matches its exactness
   (a = b = c, one step);
3. end-to-end lookup-only inference on the test digits vs the RAM's batched torch forward
   pass, same threads; the tree's ``checks`` are chosen on the validation split (smallest
   whose validation accuracy is within 0.2 points of exact lookup);
4. the index's bytes against the packed table's, and the first call in a fresh process.

Results are printed and written as the ``## Search engine`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks.bench_search import write_section
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import cached_table
from mbi.model.checkpoint import load_model
from mbi.model.predict import predict
from mbi.search.distance import pack
from mbi.search.engine import build_searcher

ROOT = Path(__file__).resolve().parents[1]
CHECKS = (1, 2, 4, 8, 16, 32)


def timed(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter, repeats: int = 2) -> float:
    """Best of ``repeats`` timings of ``fn()`` with ``clock``."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def scaled_keys(keys: np.ndarray, table_layout, weights) -> np.ndarray:
    """Integer keys as float32 scaled by a, b, c / (a + b + c): L1 on them is eq. (1)."""
    a, b, c = weights
    total = (a + b) + c
    scale = np.concatenate([np.full(table_layout.patch_len, a / total), np.full(table_layout.hidden_len, b / total),
                            np.full(2, c / total)]).astype(np.float32)
    return keys.astype(np.float32) * scale


def search_section(table, weights, queries_by_step: list[np.ndarray], n_queries: int) -> list[str]:
    """Exact search per step: ours vs faiss flat indexes, 1 thread (CPU s) and 2 threads (wall)."""
    lines = ["### Exact search per glimpse step (real queries of the test digits)", "",
             "| step | metric | searcher | queries per CPU-second, 1 thread | vs faiss | queries/s, 2 threads (wall) "
             "| vs faiss | rows read per query |", "|---:|---|---|---:|---:|---:|---:|---:|"]
    layout = table.layout
    for t, queries in enumerate(queries_by_step):
        queries = queries[:n_queries]
        keys = table.keys[table.rows_of_step(t)]
        for metric, w in (("weighted", weights), ("a = b = c", (1.0, 1.0, 1.0))):
            if metric == "weighted":
                peer = faiss.IndexFlat(layout.width, faiss.METRIC_L1)
                peer.add(scaled_keys(keys, layout, w))
                q_peer = scaled_keys(queries, layout, w)
                peer_name = "faiss `IndexFlat(METRIC_L1)`, scaled keys"
            else:
                codes = pack(keys, layout).row_bytes()
                peer = faiss.IndexBinaryFlat(codes.shape[1] * 8)
                peer.add(codes)
                q_peer = pack(queries, layout).row_bytes()
                peer_name = "faiss `IndexBinaryFlat`, same bits"
            rates = {}
            for threads in (1, 2):
                faiss.omp_set_num_threads(threads)
                clock = time.process_time if threads == 1 else time.perf_counter
                rates[("faiss", threads)] = len(queries) / timed(lambda: peer.search(q_peer, 1), clock)
                for kind in ("brute", "scan"):
                    s = build_searcher(keys, layout, w, kind, n_threads=threads)
                    s.query(queries[:4])
                    result = {}
                    rates[(kind, threads)] = len(queries) / timed(lambda: result.setdefault("r", s.query(queries)),
                                                                  clock)
                    r = result["r"]
                    rates[(kind, "read")] = float((r.comparisons if r.rows_read is None else r.rows_read).mean())
            f_dist, _ = peer.search(q_peer, 1)
            ours = build_searcher(keys, layout, w, "brute", n_threads=2).query(queries)
            close = np.isclose(f_dist[:, 0], ours.distance * (3.0 if metric != "weighted" else 1.0), rtol=1e-5)
            for kind, name in (("brute", "ours: pruned exact (`PrunedExact`)"), ("scan", "ours: compiled full scan")):
                lines.append(f"| {t + 1} | {metric} | {name} | {rates[(kind, 1)]:,.0f} "
                             f"| {rates[(kind, 1)] / rates[('faiss', 1)]:.2f}x | {rates[(kind, 2)]:,.0f} "
                             f"| {rates[(kind, 2)] / rates[('faiss', 2)]:.2f}x | {rates[(kind, 'read')]:,.0f} |")
            lines.append(f"| {t + 1} | {metric} | {peer_name} | {rates[('faiss', 1)]:,.0f} | 1.00x "
                         f"| {rates[('faiss', 2)]:,.0f} | 1.00x | {len(keys):,} (same distances: "
                         f"{100 * close.mean():.1f}%) |")
    return lines


def ivf_section(table, queries: np.ndarray, step: int) -> list[str]:
    """Compiled tree vs faiss IndexBinaryIVF at matching exactness, a = b = c, one step, one thread."""
    layout, ones = table.layout, (1.0, 1.0, 1.0)
    keys = table.keys[table.rows_of_step(step)]
    exact = build_searcher(keys, layout, ones).query(queries)
    tree = build_searcher(keys, layout, ones, "tree", n_threads=1)
    codes = pack(keys, layout).row_bytes()
    q_codes = pack(queries, layout).row_bytes()
    nlist = 1024
    faiss.omp_set_num_threads(1)
    ivf = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(codes.shape[1] * 8), codes.shape[1] * 8, nlist)
    ivf.train(codes)
    ivf.add(codes)
    lines = [f"### Approximate: compiled k-means tree vs faiss `IndexBinaryIVF` (step {step + 1}, a = b = c, "
             f"{len(queries):,} real queries, 1 thread)", "",
             "| searcher | setting | same distance as exact | queries per CPU-second |", "|---|---|---:|---:|"]
    for checks in CHECKS:
        res = tree.query(queries, checks=checks)
        rate = len(queries) / timed(lambda: tree.query(queries, checks=checks), time.process_time)
        lines.append(f"| ours: compiled tree (branching 4, leaf 32) | checks {checks} "
                     f"| {100 * np.mean(res.distance == exact.distance):.1f}% | {rate:,.0f} |")
    for nprobe in (1, 2, 4, 8, 16, 32, 64):
        ivf.nprobe = nprobe
        dist, _ = ivf.search(q_codes, 1)
        rate = len(queries) / timed(lambda: ivf.search(q_codes, 1), time.process_time)
        lines.append(f"| faiss `IndexBinaryIVF` (nlist {nlist}) | nprobe {nprobe} "
                     f"| {100 * np.mean(dist[:, 0] == exact.distance * 3):.1f}% | {rate:,.0f} |")
    return lines


def end_to_end_section(model, table, weights, data, n_images: int, with_tree: bool = True
                       ) -> tuple[list[str], list[np.ndarray], StepIndex, StepIndex | None]:
    """Lookup-only inference vs the RAM's batched forward (1 and 2 threads).

    Also returns the real queries per step and the exact and tree indexes.
    """
    x, y = data.test_x[:n_images], data.test_y[:n_images]
    vx, vy = data.val_x[:n_images], data.val_y[:n_images]
    exact_index = StepIndex(table, weights, n_threads=2)
    tree_index, chosen = None, 0
    lines = ["### End to end: lookup-only inference vs the RAM's batched forward", ""]
    if with_tree:
        start = time.perf_counter()
        tree_index = StepIndex(table, weights, "tree", n_threads=2)
        t_build = time.perf_counter() - start
        # checks chosen on VALIDATION: smallest within 0.2 points of exact lookup
        val_exact = float(np.mean(lookup_infer(model, table, vx, index=exact_index).prediction == vy))
        val_tree = {}
        for checks in CHECKS:
            for s in tree_index.searchers:
                s.checks = checks
            val_tree[checks] = float(np.mean(lookup_infer(model, table, vx, index=tree_index).prediction == vy))
        chosen = next((c for c in CHECKS if val_tree[c] >= val_exact - 0.002), CHECKS[-1])
        lines += [f"{n_images:,} test digits; tree `checks` chosen on {n_images:,} validation digits: exact lookup "
                  f"{100 * val_exact:.2f}%, tree by checks "
                  + ", ".join(f"{c}: {100 * a:.2f}%" for c, a in val_tree.items())
                  + f" -> **checks {chosen}** (smallest within 0.2 points). The four trees took {t_build:.0f} s to "
                  "build."]
    else:
        lines += [f"{n_images:,} test digits; exact lookup only (`--no-tree`)."]
    lines += ["", "| threads | inference | images/s | vs RAM | test accuracy | of which search (s) |",
             "|---:|---|---:|---:|---:|---:|"]
    queries = None
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for index in (exact_index, tree_index) if with_tree else (exact_index,):
            for s in index.searchers:
                s.n_threads = threads
                if index is tree_index:
                    s.checks = chosen
        with threadpool_limits(threads):
            predict(model, x[:100])
            t_ram = timed(lambda: predict(model, x), repeats=1)
            acc_ram = float(np.mean(predict(model, x) == y))
            rows = [("RAM, batched torch forward", t_ram, acc_ram, None)]
            runs = [("lookup-only, exact (pruned)", exact_index)]
            if with_tree:
                runs.append((f"lookup-only, compiled tree (checks {chosen})", tree_index))
            for name, index in runs:
                out = {}
                t = timed(lambda: out.setdefault("tr", lookup_infer(model, table, x, index=index)), repeats=1)
                trace = out["tr"]
                if queries is None:
                    queries = [trace.queries[:, s] for s in range(table.num_glimpses)]
                t_search = sum(timed(lambda s=s: index.query(s, trace.queries[:, s]), repeats=1)
                               for s in range(table.num_glimpses))
                rows.append((name, t, float(np.mean(trace.prediction == y)), t_search))
        for name, t, acc, t_search in rows:
            lines.append(f"| {threads} | {name} | {n_images / t:,.0f} | {t_ram / t:.2f}x | {100 * acc:.2f}% "
                         f"| {'-' if t_search is None else f'{t_search:.2f} of {t:.2f}'} |")
    return lines, queries, exact_index, tree_index


def memory_and_first_call(table, exact: StepIndex, tree: StepIndex | None) -> list[str]:
    """Index bytes vs packed table bytes; first call in a fresh process."""
    packed = sum(pack(table.keys[table.rows_of_step(t)], table.layout).words.nbytes for t in range(table.num_glimpses))
    b_exact = sum(s.index_bytes for s in exact.searchers)
    b_tree = sum(s.index_bytes for s in tree.searchers) if tree is not None else 0
    code = ("import time; t0 = time.perf_counter(); from mbi.search import kernels; t1 = time.perf_counter(); "
            "kernels.warm_up(); t2 = time.perf_counter(); print(f'{t1 - t0:.2f} {t2 - t1:.2f}')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    t_import, t_warm = (float(v) for v in out.stdout.split())
    return ["### Index memory and first call", "",
            f"Packed table (all steps): {packed / 1e6:.2f} MB. Exact index: {b_exact / 1e6:.2f} MB "
            f"({b_exact / packed:.2f}x)."
            + (f" Tree index (codes, order, centroids, nodes): {b_tree / 1e6:.2f} MB ({b_tree / packed:.2f}x)."
               if tree is not None else ""), "",
            f"Fresh process (numba's on-disk cache warm): importing the kernels {t_import:.2f} s, first call of "
            f"every kernel {t_warm:.2f} s (the cache is written on the very first run after an install, which "
            "compiles for about 10-30 s)."]


def main() -> None:
    """Run every measurement, print them and write the BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--search-queries", type=int, default=2_000, help="real queries per step for section 1")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-tree", action="store_true", help="exact search only: no trees, no IVF comparison")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    model, table, data = load_model("default"), cached_table("default"), load_mnist()
    weights = tuple(json.loads((ROOT / "mbi" / "default_model" / "lookup.json").read_text())["weights"])
    e2e, queries, exact_index, tree_index = end_to_end_section(model, table, weights, data, args.images,
                                                                 with_tree=not args.no_tree)
    lines = ["## Search engine", "", f"Command: `python -m benchmarks.bench_engine {' '.join(sys.argv[1:])}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, faiss "
             f"{faiss.__version__}, torch {torch.__version__}; load average {load:.1f} at start (other jobs share "
             f"the cores: compare ratios within the run). Shipped default model and table ({len(table):,} rows, "
             f"weights {weights}).", ""]
    print("\n".join(lines + e2e), flush=True)  # each part as soon as it is measured
    parts = [search_section(table, weights, queries, args.search_queries),
             memory_and_first_call(table, exact_index, tree_index)]
    for part in parts[:1]:
        print("\n" + "\n".join(part), flush=True)
    lines += e2e + [""] + parts[0] + [""] + parts[1] + [""]
    print("\n".join(parts[1]), flush=True)
    ivf = [] if args.no_tree else ivf_section(table, queries[2][: args.search_queries], 2)
    print("\n".join(ivf), flush=True)
    lines += ivf
    section = "\n".join(lines) + "\n"
    if not args.no_write:
        write_section(args.output, section, "## Search engine")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
