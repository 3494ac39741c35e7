"""Where the slow pages' cold first views go: each part of their default state, in page order, on an empty MBI_HOME.

The parts the pages run in the server (MNIST's first load, the table's first load, the exact index, one digit's
lookup, the learned gate's neighbours) run here in one process, as in a server; the parts they hand to child
processes run as those children (``python -m mbi.runs.tracecache JOB``, the k-means tree's
``mbi.runs.treecache``), each timed from its start to its exit. Every line: wall seconds, CPU seconds (user +
system, of this process or of the child: what a loaded shared machine does not inflate) and, for a child, its
peak RSS. Order and settings are the pages' defaults: Glimpse paths (test digit 0), Table size (10,000 test
digits, the model's weights and a = b = c), Cluster tree (glimpse step 2, branching 4, leaves of 32), Mixed MBI
(10,000 test digits, exact search, the learned gate). Usage: ``python -m benchmarks.page_parts [--home DIR]``
(default: a fresh temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from benchmarks.dashboard_server import load_average


def _child_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def timed(what: str, work: Callable[[], object], child: bool = False) -> object:
    """Run ``work``, print its wall and CPU seconds (of this process, or of the child it ran: ``child``)."""
    t0, c0, (k0, _) = time.perf_counter(), time.process_time(), _child_cpu()
    out = work()
    k1, peak = _child_cpu()
    cpu = (k1 - k0) if child else time.process_time() - c0
    extra = f", child peak RSS {peak:.0f} MB (largest so far)" if child else ""
    print(f"{what}: {time.perf_counter() - t0:.2f} s wall, {cpu:.2f} CPU-s{extra}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", help="MBI_HOME to use (default: a fresh temporary folder)")
    args = parser.parse_args()
    home = Path(args.home or tempfile.mkdtemp(prefix="mbi-page-parts-"))
    os.environ["MBI_HOME"] = str(home)
    print(f"MBI_HOME={home}, load average {load_average()}", flush=True)

    from mbi.config import TreeConfig
    from mbi.inference.gate import LearnedGate
    from mbi.inference.lookup import StepIndex, lookup_infer
    from mbi.inference.tablesize import budget_grid
    from mbi.memory.lut import cached_table
    from mbi.model.checkpoint import Checkpoint
    from mbi.runs.gatecache import cached_neighbours
    from mbi.runs.tracecache import checkpoint_budget_curve, checkpoint_ram_predictions, checkpoint_ram_trace
    from mbi.runs.tracecache import checkpoint_trace
    from mbi.runs.treecache import tree_view
    from mbi.search.weights import from_ratios, ratios_of

    ckpt = Checkpoint("default")
    weights = from_ratios(*ratios_of(ckpt.lookup.weights))  # the session's default: the model's own weights
    plain = from_ratios(1.0, 1.0)
    data = timed("[all pages] MNIST, first load (decode + the uint8 copy)", ckpt.data)
    test_x = data.test_x
    n = len(test_x)
    print("-- Glimpse paths", flush=True)
    timed("[child] the RAM's pass over the test digits (glimpse trace + classes)",
          lambda: checkpoint_ram_trace(ckpt, "test", n, slice(0, 1)), child=True)
    table = timed("table, first load (decompress + the mapped copy)", lambda: cached_table(ckpt))
    index = timed("exact index of the table (4 steps)", lambda: StepIndex(table, weights))
    timed("one digit's lookups", lambda: lookup_infer(ckpt.config.ram, table, test_x[:1], index=index))
    print("-- Table size", flush=True)
    timed("[child] table-size curve (6 budgets x 2 weightings)",
          lambda: checkpoint_budget_curve(ckpt, table, "test", n, budget_grid(len(table)),
                                          {"unweighted": plain, "weighted": weights}), child=True)
    print("-- Cluster tree", flush=True)
    trace = timed("lookup trace of the test digits (from disk when the curve left it, else a child)",
                  lambda: checkpoint_trace(ckpt, table, "test", n, weights), child=True)
    timed("[child] k-means tree of step 2 and its answers",
          lambda: tree_view(table.keys_of_step(1), table.layout, weights, TreeConfig(), trace.queries[:, 1],
                            (1, 2, 4, 8, 16, 32)), child=True)
    print("-- Mixed MBI", flush=True)
    timed("the RAM's classes (from disk when the RAM's pass left them, else a child)",
          lambda: checkpoint_ram_predictions(ckpt, "test", n), child=True)
    learned = LearnedGate.from_dict(ckpt.lookup.gate)
    timed(f"the learned gate's {learned.k} nearest rows per step",
          lambda: cached_neighbours(table, weights, trace, f"test:{n}", learned.k, index=index))
    print(json.dumps({"load_average_end": load_average()}))


if __name__ == "__main__":
    sys.exit(main())
