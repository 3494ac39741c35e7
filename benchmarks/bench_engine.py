"""The compiled search engine on the shipped table, against faiss and the RAM, in one run.

    python -m benchmarks.bench_engine                    # 10,000 test and validation digits
    python -m benchmarks.bench_engine --images 2000 --no-write

Measured (all on the shipped default model and table, the model's recorded weights), every
speed the best of ``--repeats`` runs, ours and the peer's alike, in the same process:

1. end-to-end lookup-only inference on the test digits vs the RAM's batched torch forward,
   same threads (1 and 2); where the lookup's time goes (glimpses, search, the rest); the
   tree's ``checks`` chosen on the validation digits (smallest whose lookup accuracy is within
   0.2 points of exact lookup), and the (1 + eps)-approximate pruned search's ``eps`` (largest
   within 0.2 points), each with its whole validation curve;
2. exact search per glimpse step on the real queries the test digits issue: ours (pruned exact,
   compiled full scan) vs faiss ``IndexFlat(d, METRIC_L1)`` on keys scaled by a, b, c (weighted)
   and ``IndexBinaryFlat`` on the same thermometer bits (a = b = c), in queries per CPU-second
   with one thread and queries/s with two; the rows each stage of the pruned search reads;
3. the index's bytes against the packed table's, and the first call in a fresh process (numba's
   on-disk cache warm, and cold: everything compiled);
4. the compiled tree vs faiss ``IndexBinaryIVF`` (a = b = c, one step) at the ``nprobe`` that
   matches the tree's exactness on the same queries;
5. the learned gate's ``k`` nearest rows per step (``step_neighbours``) on validation digits:
   the engine's exact k-nearest search vs the numpy reference it replaced.

Results are printed as they come and written as the ``## Search engine`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import faiss
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from benchmarks.bench_search import write_section
from mbi.data import load_mnist
from mbi.inference.gate import DEFAULT_K, step_neighbours
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import cached_table
from mbi.model.checkpoint import load_model
from mbi.model.predict import images_to_tensor, predict
from mbi.model.sensor import GlimpseSensor
from mbi.search.distance import pack
from mbi.search.engine import build_searcher
from mbi.search.searchers import BruteForce

ROOT = Path(__file__).resolve().parents[1]
CHECKS = (1, 2, 4, 8, 16, 32, 64)
EPS = (0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)
NPROBES = (1, 2, 4, 8, 16, 32, 64, 128)


def timed(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter, repeats: int = 3) -> float:
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


def set_threads(index: StepIndex, threads: int, checks: int | None = None, eps: float | None = None) -> None:
    """Run ``index`` on ``threads`` threads (and, for a tree, with ``checks`` leaves; for the pruned search, ``eps``)."""
    index.n_threads = threads
    if eps is not None:
        index.eps = eps
    for s in index.searchers:
        s.n_threads = threads
        if checks is not None:
            s.checks = checks
        if eps is not None:
            s.eps = eps


def choose_eps(model, table, approx_index: StepIndex, acc_exact: float, t_exact: float, vx: np.ndarray,
               vy: np.ndarray, repeats: int) -> tuple[float, list[str]]:
    """The (1 + eps)-approximate pruned search's ``eps`` chosen on validation digits (1 thread) and its curve.

    The largest ``eps`` of :data:`EPS` such that it and every smaller one are within 0.2 points of
    exact lookup (``acc_exact``, in ``t_exact`` CPU seconds); 0 (exact) if none is.
    """
    lines = ["", f"(1 + eps)-approximate pruned search (`build_searcher(..., eps=...)`: rows skipped once their "
             f"bound exceeds the best distance / (1 + eps)), the same {len(vx):,} VALIDATION digits, 1 thread; "
             "`eps` chosen = the largest such that it and every smaller one are within 0.2 points of exact lookup:",
             "", "| search | validation accuracy | vs exact (points) | images per CPU-second | vs exact (speed) |",
             "|---|---:|---:|---:|---:|"]
    chosen, within = 0.0, True
    for eps in EPS:
        set_threads(approx_index, 1, eps=eps)
        res = {}
        t = timed(lambda: res.setdefault("tr", lookup_infer(model, table, vx, index=approx_index)), time.process_time,
                  repeats)
        acc = float(np.mean(res["tr"].prediction == vy))
        lines.append(f"| pruned, eps {eps:g} | {100 * acc:.2f}% | {100 * (acc - acc_exact):+.2f} | {len(vx) / t:,.0f} "
                     f"| {t_exact / t:.2f}x |")
        print(lines[-1], flush=True)
        within = within and acc >= acc_exact - 0.002
        if within:
            chosen = eps
    return chosen, lines


def exact_on_validation(model, table, exact_index: StepIndex, vx: np.ndarray, vy: np.ndarray,
                        repeats: int) -> tuple[float, float]:
    """Exact lookup's accuracy and CPU seconds (1 thread) on the validation digits."""
    set_threads(exact_index, 1)
    out = {}
    t_exact = timed(lambda: out.setdefault("exact", lookup_infer(model, table, vx, index=exact_index)),
                    time.process_time, repeats)
    return float(np.mean(out["exact"].prediction == vy)), t_exact


def choose_checks(model, table, tree_index: StepIndex, acc_exact: float, t_exact: float, vx: np.ndarray,
                  vy: np.ndarray, repeats: int) -> tuple[int, list[str]]:
    """The tree's ``checks`` chosen on validation digits (1 thread) and the table of the curve."""
    lines = [f"Tree `checks` chosen on {len(vx):,} VALIDATION digits, 1 thread (smallest within 0.2 points of "
             "exact lookup):", "", "| search | validation accuracy | vs exact (points) | images per CPU-second |",
             "|---|---:|---:|---:|", f"| exact (pruned) | {100 * acc_exact:.2f}% | - | {len(vx) / t_exact:,.0f} |"]
    chosen = None
    for checks in CHECKS:
        set_threads(tree_index, 1, checks)
        res = {}
        t = timed(lambda: res.setdefault("tr", lookup_infer(model, table, vx, index=tree_index)), time.process_time,
                  repeats)
        acc = float(np.mean(res["tr"].prediction == vy))
        lines.append(f"| tree, checks {checks} | {100 * acc:.2f}% | {100 * (acc - acc_exact):+.2f} "
                     f"| {len(vx) / t:,.0f} |")
        print(lines[-1], flush=True)
        if chosen is None and acc >= acc_exact - 0.002:
            chosen = checks
    if chosen is None:
        chosen = CHECKS[-1]
        lines += ["", f"No `checks` up to {CHECKS[-1]} comes within 0.2 points: the end-to-end run uses {chosen}."]
    return chosen, lines


def breakdown(model, index: StepIndex, table, x: np.ndarray, trace, clock: Callable[[], float]
              ) -> tuple[float, float]:
    """Seconds of the glimpse sensor and of the search alone on ``trace``'s locations and queries."""
    sensor = GlimpseSensor(model)
    t_sensor = timed(lambda: [sensor.codes(x, trace.locs[:, t], index.n_threads) for t in range(table.num_glimpses)],
                     clock)
    t_search = timed(lambda: [index.query(t, trace.queries[:, t]) for t in range(table.num_glimpses)], clock)
    return t_sensor, t_search


def end_to_end_section(model, table, weights, data, n_images: int, repeats: int, with_tree: bool = True
                       ) -> tuple[list[str], list[np.ndarray], StepIndex, StepIndex | None]:
    """Lookup-only inference vs the RAM's batched forward (1 and 2 threads), and where the time goes.

    Also returns the real queries per step and the exact and tree indexes.
    """
    x, y = data.test_x[:n_images], data.test_y[:n_images]
    vx, vy = data.val_x[:n_images], data.val_y[:n_images]
    start = time.perf_counter()
    exact_index = StepIndex(table, weights, n_threads=1)
    t_exact_build = time.perf_counter() - start
    tree_index, chosen = None, 0
    lines = ["### End to end: lookup-only inference vs the RAM's batched forward", ""]
    acc_exact, t_exact = exact_on_validation(model, table, exact_index, vx, vy, repeats)
    if with_tree:
        start = time.perf_counter()
        tree_index = StepIndex(table, weights, "tree", n_threads=1)
        t_build = time.perf_counter() - start
        chosen, curve = choose_checks(model, table, tree_index, acc_exact, t_exact, vx, vy, repeats)
        lines += curve + ["", f"Index build: exact {t_exact_build:.1f} s, the four trees {t_build:.0f} s."]
    else:
        lines += [f"Exact lookup on {len(vx):,} VALIDATION digits, 1 thread: {100 * acc_exact:.2f}%, "
                  f"{len(vx) / t_exact:,.0f} images per CPU-second."]
    approx_index = StepIndex(table, weights, n_threads=1)
    eps, curve = choose_eps(model, table, approx_index, acc_exact, t_exact, vx, vy, repeats)
    lines += curve + [""]
    lines += [f"{n_images:,} test digits (measured once, after the choices above)"
              + (f"; tree with **checks {chosen}** (chosen above)" if with_tree else "; no tree (`--no-tree`)")
              + f"; approximate pruned search with **eps {eps:g}** (chosen above)."
              + " One thread: images per CPU-second (the process runs one thread, so other jobs on the machine "
              "do not count); two threads: images per wall-clock second. The split: the same run's glimpses "
              "(compiled sensor), searches alone, and the rest (keys, table reads, Python); at two threads the "
              "parts are separate wall-clock runs on a shared machine, so they need not add up.", "",
              "| threads | inference | images/s | vs RAM | test accuracy | glimpses (s) | search (s) | rest (s) |",
              "|---:|---|---:|---:|---:|---:|---:|---:|"]
    queries = None
    for threads in (1, 2):
        torch.set_num_threads(threads)
        set_threads(exact_index, threads)
        set_threads(approx_index, threads, eps=eps)
        if tree_index is not None:
            set_threads(tree_index, threads, chosen)
        clock = time.process_time if threads == 1 else time.perf_counter
        with threadpool_limits(threads):
            predict(model, x[:100])
            t_ram = timed(lambda: predict(model, x), clock, repeats)
            acc_ram = float(np.mean(predict(model, x) == y))
            rows = [("RAM, batched torch forward", t_ram, acc_ram, None)]
            runs = [("lookup-only, exact (pruned)", exact_index),
                    (f"lookup-only, (1 + eps)-approximate pruned (eps {eps:g})", approx_index)]
            if tree_index is not None:
                runs.append((f"lookup-only, compiled tree (checks {chosen})", tree_index))
            for name, index in runs:
                out = {}
                t = timed(lambda: out.setdefault("tr", lookup_infer(model, table, x, index=index)), clock, repeats)
                trace = out["tr"]
                if queries is None:
                    queries = [trace.queries[:, s] for s in range(table.num_glimpses)]
                rows.append((name, t, float(np.mean(trace.prediction == y)),
                             breakdown(model, index, table, x, trace, clock)))
        for name, t, acc, parts in rows:
            split = "| - | - | - |" if parts is None else f"| {parts[0]:.2f} | {parts[1]:.2f} | {t - sum(parts):.2f} |"
            lines.append(f"| {threads} | {name} | {n_images / t:,.0f} | {t_ram / t:.2f}x | {100 * acc:.2f}% {split}")
        print("\n".join(lines[-len(rows):]), flush=True)
    with torch.no_grad():
        x_t, loc = images_to_tensor(x), torch.from_numpy(queries[0][:, -2:].astype(np.int64))
        torch.set_num_threads(1)
        with threadpool_limits(1):
            t_torch = timed(lambda: model.retina.quantizer.codes(model.retina(x_t, loc)), time.process_time)
            sensor = GlimpseSensor(model)
            t_sensor = timed(lambda: sensor.codes(x, loc.numpy()), time.process_time)
    lines += ["", f"Glimpses of one step, 1 thread: compiled sensor {t_sensor * 1e3:.0f} ms vs the torch retina + "
              f"quantizer {t_torch * 1e3:.0f} ms ({t_torch / t_sensor:.1f}x), bit-identical codes "
              "(tests/test_sensor.py)."]
    return lines, queries, exact_index, tree_index


def search_section(table, weights, queries_by_step: list[np.ndarray], n_queries: int, n_peer: int,
                   repeats: int) -> list[str]:
    """Exact search per step: ours vs faiss flat indexes, 1 thread (CPU s) and 2 threads (wall)."""
    lines = ["### Exact search per glimpse step (real queries of the test digits)", "",
             f"{n_queries:,} queries per step for ours and faiss `IndexBinaryFlat`, {n_peer:,} for faiss "
             "`IndexFlat(METRIC_L1)` (slow; rates are per query). Rows per query: bounded = the pruned search's "
             "group-sum bound computed, exact = distances computed.", "",
             "| step | metric | searcher | queries per CPU-second, 1 thread | vs faiss | queries/s, 2 threads (wall) "
             "| vs faiss | rows per query |", "|---:|---|---|---:|---:|---:|---:|---|"]
    layout = table.layout
    for t, queries in enumerate(queries_by_step):
        queries = queries[:n_queries]
        keys = table.keys[table.rows_of_step(t)]
        for metric, w in (("weighted", weights), ("a = b = c", (1.0, 1.0, 1.0))):
            if metric == "weighted":
                peer = faiss.IndexFlat(layout.width, faiss.METRIC_L1)
                peer.add(scaled_keys(keys, layout, w))
                q_peer = scaled_keys(queries[:n_peer], layout, w)
                peer_name = "faiss `IndexFlat(METRIC_L1)`, scaled keys"
            else:
                codes = pack(keys, layout).row_bytes()
                peer = faiss.IndexBinaryFlat(codes.shape[1] * 8)
                peer.add(codes)
                q_peer = pack(queries, layout).row_bytes()
                peer_name = "faiss `IndexBinaryFlat`, same bits"
            rates, reads = {}, {}
            searchers = {kind: build_searcher(keys, layout, w, kind, n_threads=1) for kind in ("brute", "scan")}
            for threads in (1, 2):
                faiss.omp_set_num_threads(threads)
                clock = time.process_time if threads == 1 else time.perf_counter
                rates[("faiss", threads)] = len(q_peer) / timed(lambda: peer.search(q_peer, 1), clock, repeats)
                for kind, s in searchers.items():
                    s.n_threads = threads
                    s.query(queries[:4])
                    result = {}
                    rates[(kind, threads)] = len(queries) / timed(lambda: result.setdefault("r", s.query(queries)),
                                                                  clock, repeats)
                    r = result["r"]
                    reads[kind] = (f"{r.comparisons.mean():,.0f}" if r.rows_read is None else
                                   f"bounded {r.rows_bounded.mean():,.0f}, exact {r.rows_read.mean():,.0f}")
            f_dist, _ = peer.search(q_peer, 1)
            ours = searchers["brute"].query(queries[:len(q_peer)])
            close = np.isclose(f_dist[:, 0], ours.distance * (3.0 if metric != "weighted" else 1.0), rtol=1e-5)
            for kind, name in (("brute", "ours: pruned exact (`PrunedExact`)"), ("scan", "ours: compiled full scan")):
                lines.append(f"| {t + 1} | {metric} | {name} | {rates[(kind, 1)]:,.0f} "
                             f"| {rates[(kind, 1)] / rates[('faiss', 1)]:.2f}x | {rates[(kind, 2)]:,.0f} "
                             f"| {rates[(kind, 2)] / rates[('faiss', 2)]:.2f}x | {reads[kind]} |")
            lines.append(f"| {t + 1} | {metric} | {peer_name} | {rates[('faiss', 1)]:,.0f} | 1.00x "
                         f"| {rates[('faiss', 2)]:,.0f} | 1.00x | {len(keys):,} (same distances: "
                         f"{100 * close.mean():.1f}%) |")
            print("\n".join(lines[-3:]), flush=True)
    return lines


def ivf_section(table, queries: np.ndarray, step: int, repeats: int) -> list[str]:
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
    ivf_points = []
    for nprobe in NPROBES:
        ivf.nprobe = nprobe
        dist, _ = ivf.search(q_codes, 1)
        rate = len(queries) / timed(lambda: ivf.search(q_codes, 1), time.process_time, repeats)
        ivf_points.append((nprobe, float(np.mean(dist[:, 0] == exact.distance * 3)), rate))
    lines = [f"### Approximate: compiled k-means tree vs faiss `IndexBinaryIVF` (step {step + 1}, a = b = c, "
             f"{len(queries):,} real queries, 1 thread)", "",
             f"For each tree setting, the smallest `nprobe` of `IndexBinaryIVF` (nlist {nlist}) whose share of "
             "exact answers is at least the tree's.", "",
             "| tree (branching 4, leaf 32) | same distance as exact | queries per CPU-second | faiss IVF at matching "
             "exactness | its exactness | its queries per CPU-second | ours vs faiss |",
             "|---|---:|---:|---|---:|---:|---:|"]
    for checks in CHECKS:
        res = tree.query(queries, checks=checks)
        share = float(np.mean(res.distance == exact.distance))
        rate = len(queries) / timed(lambda: tree.query(queries, checks=checks), time.process_time, repeats)
        match = next((p for p in ivf_points if p[1] >= share), None)
        peer = ("| not reached (nprobe <= 128) | - | - | - |" if match is None else
                f"| nprobe {match[0]} | {100 * match[1]:.1f}% | {match[2]:,.0f} | {rate / match[2]:.2f}x |")
        lines.append(f"| checks {checks} | {100 * share:.1f}% | {rate:,.0f} {peer}")
        print(lines[-1], flush=True)
    lines += ["", "faiss `IndexBinaryIVF` curve: " + ", ".join(f"nprobe {n}: {100 * s:.1f}% at {r:,.0f}/s"
                                                             for n, s, r in ivf_points) + "."]
    return lines


def neighbours_section(model, table, weights, images: np.ndarray, k: int, repeats: int) -> list[str]:
    """The learned gate's ``k`` nearest rows per step (:func:`step_neighbours`, the engine) vs the numpy reference.

    One thread, CPU seconds, on the exact lookup trace of ``images``: the engine with and without building
    its exact index, and the numpy reference (pack each step, full distance matrix, ``k_smallest``: what
    ``step_neighbours`` did before the engine had a k-nearest search), timed once; the answers must agree.
    """
    torch.set_num_threads(1)
    with threadpool_limits(1):
        index = StepIndex(table, weights, n_threads=1)
        trace = lookup_infer(model, table, images, index=index)
        step_neighbours(table, weights, trace.queries[:20], k, index=index)  # kernels loaded
        found = {}
        t_built = timed(lambda: found.setdefault("nb", step_neighbours(table, weights, trace.queries, k,
                                                                       index=StepIndex(table, weights, n_threads=1))),
                        time.process_time, repeats)
        t_reuse = timed(lambda: step_neighbours(table, weights, trace.queries, k, index=index), time.process_time,
                        repeats)
        start = time.process_time()
        same = True
        for t in range(table.num_glimpses):
            rows = table.rows_of_step(t)
            ref_rows, ref_dist = BruteForce(table.keys[rows], table.layout, weights).query_k(trace.queries[:, t], k)
            same &= bool(np.array_equal(rows[ref_rows], found["nb"].rows[:, t])
                         and np.array_equal(ref_dist, found["nb"].distance[:, t]))
        t_ref = time.process_time() - start
    if not same:
        raise AssertionError("the engine's k nearest rows differ from the numpy reference")
    return [f"### The learned gate's {k} nearest rows per step ({len(images):,} validation digits, 1 thread)", "",
            "`step_neighbours` (the engine's exact k-nearest search, `PrunedExact.query_k`) against the numpy "
            "reference it replaced (`BruteForce.query_k`: a full distance matrix per block of 64 queries, "
            "`k_smallest`), same queries (the exact lookup trace's), identical rows and distances.", "",
            "| search | CPU seconds | vs reference |", "|---|---:|---:|",
            f"| numpy reference (timed once) | {t_ref:.2f} | 1.00x |",
            f"| engine, exact index built in the call | {t_built:.2f} | {t_ref / t_built:.1f}x |",
            f"| engine, the lookups' exact index reused | {t_reuse:.2f} | {t_ref / t_reuse:.1f}x |"]


FIRST_CALL = """
import time, json, sys
t0 = time.perf_counter()
from mbi.search import kernels
from mbi.model import sensor
t1 = time.perf_counter()
kernels.warm_up()
t2 = time.perf_counter()
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.memory.lut import cached_table
from mbi.model.checkpoint import load_model
model, table, data = load_model("default"), cached_table("default"), load_mnist()
t3 = time.perf_counter()
index = StepIndex(table, tuple(json.loads(sys.argv[1])))
t4 = time.perf_counter()
lookup_infer(model, table, data.test_x[:100], index=index)
t5 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "kernels": t2 - t1, "load": t3 - t2, "index": t4 - t3, "lookup": t5 - t4}))
"""


def first_call(weights, cache_dir: str | None) -> dict:
    """Phases of the first exact lookup of 100 digits in a fresh process (``cache_dir``: numba's cache or default)."""
    env = dict(os.environ, **({"NUMBA_CACHE_DIR": cache_dir} if cache_dir else {}))
    out = subprocess.run([sys.executable, "-c", FIRST_CALL, json.dumps(list(weights))], capture_output=True,
                         text=True, cwd=ROOT, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_and_first_call(table, weights, exact: StepIndex, tree: StepIndex | None) -> list[str]:
    """Index bytes vs packed table bytes; the first call in a fresh process, cache warm and cold."""
    packed = sum(pack(table.keys[table.rows_of_step(t)], table.layout).words.nbytes for t in range(table.num_glimpses))
    b_exact = sum(s.index_bytes for s in exact.searchers)
    b_tree = sum(s.index_bytes for s in tree.searchers) if tree is not None else 0
    first_call(weights, None)  # make sure numba's own cache is written
    warm = first_call(weights, None)
    with tempfile.TemporaryDirectory() as empty:
        cold = first_call(weights, empty)

    def phases(p: dict) -> str:
        return (f"import {p['import']:.2f} s (numba, torch), first call of every search kernel {p['kernels']:.2f} s, "
                f"loading model, table "
                f"and MNIST {p['load']:.2f} s, exact index {p['index']:.2f} s, first lookup of 100 digits "
                f"{p['lookup']:.2f} s")

    return ["### Index memory and first call", "",
            f"Packed table (all steps): {packed / 1e6:.2f} MB. Exact index (codes, group sums, order): "
            f"{b_exact / 1e6:.2f} MB ({b_exact / packed:.2f}x)."
            + (f" Tree index (codes, order, centroids, nodes): {b_tree / 1e6:.2f} MB ({b_tree / packed:.2f}x)."
               if tree is not None else ""), "",
            f"First exact lookup in a fresh process, numba's on-disk cache warm: {phases(warm)}.", "",
            f"The same with an empty cache (every kernel compiled, as on the very first run after an install): "
            f"{phases(cold)}."]


def main() -> None:
    """Run every measurement, print them and write the BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="test digits (and as many validation digits)")
    parser.add_argument("--search-queries", type=int, default=2_000, help="real queries per step for section 2")
    parser.add_argument("--peer-queries", type=int, default=300, help="queries for faiss IndexFlat(METRIC_L1)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement; the best is reported")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--no-tree", action="store_true", help="exact search only: no trees, no IVF comparison")
    parser.add_argument("--neighbour-images", type=int, default=2_000,
                        help="validation digits for the learned gate's k nearest rows (0: skip)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    model, table, data = load_model("default"), cached_table("default"), load_mnist()
    weights = tuple(json.loads((ROOT / "mbi" / "default_model" / "lookup.json").read_text())["weights"])
    command = " ".join(["python -m benchmarks.bench_engine"] + sys.argv[1:])
    lines = ["## Search engine", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, faiss "
             f"{faiss.__version__}, torch {torch.__version__}; load average {load[0]:.1f} / {load[1]:.1f} / "
             f"{load[2]:.1f} (1 / 5 / 15 min) at start: other jobs share the cores, so every speed is the best of "
             f"{args.repeats} runs and only ratios within this run are compared. Shipped default model and table "
             f"({len(table):,} rows, weights {weights}).", ""]
    print("\n".join(lines), flush=True)
    e2e, queries, exact_index, tree_index = end_to_end_section(model, table, weights, data, args.images, args.repeats,
                                                                 with_tree=not args.no_tree)
    lines += e2e + [""]
    lines += search_section(table, weights, queries, args.search_queries, args.peer_queries, args.repeats) + [""]
    if args.neighbour_images:
        part = neighbours_section(model, table, weights, data.val_x[: args.neighbour_images], DEFAULT_K, args.repeats)
        print("\n".join(part), flush=True)
        lines += part + [""]
    part = memory_and_first_call(table, weights, exact_index, tree_index)
    print("\n".join(part), flush=True)
    lines += part + [""]
    if not args.no_tree:
        lines += ivf_section(table, queries[2][: args.search_queries], 2, args.repeats) + [""]
    lines.append(f"Load average at the end: {' / '.join(f'{v:.1f}' for v in os.getloadavg())}.")
    section = "\n".join(lines) + "\n"
    if not args.no_write:
        write_section(args.output, section, "## Search engine")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
