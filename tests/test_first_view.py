"""The Overview's first view: drawn from small recorded facts (no torch, no MNIST), and the shipped
precomputed examples (``example.json`` of both shipped models) equal to a fresh computation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mbi.model import gallery
from mbi.model.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parent.parent

FIRST_VIEW = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=24 * 3600.0).run()
assert not at.exception, [e.value for e in at.exception]
assert not at.error, [e.value for e in at.error]
figures = len(at.get("plotly_chart")) + sum(len(el.proto.imgs) for el in at.get("image"))
from mbi import data
print("figures", figures, "torch", "torch" in sys.modules, "decoded", data.load_dataset.cache_info().currsize,
      "optuna", "optuna" in sys.modules, "sklearn", "sklearn" in sys.modules)
"""


@pytest.mark.parametrize("name", ["default", "fashion-mnist"])
def test_shipped_example_equals_a_fresh_computation(name):
    checkpoint = Checkpoint(name)
    shipped = gallery.read_example(name)
    assert shipped is not None, f"{checkpoint.folder}/example.json is missing or stale: run `python -m mbi example {name}`"
    try:
        images = checkpoint.data()
    except FileNotFoundError as exc:  # Fashion-MNIST is an optional system package
        pytest.skip(str(exc))
    fresh = json.loads(json.dumps(gallery.compute_example(name, images)))
    assert shipped == fresh
    assert shipped["gallery"]["images"] == images.test_x[:gallery.GALLERY_SIZE].tolist()


def test_example_of_other_weights_is_not_used(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(ROOT / "mbi" / "default_model", folder)
    assert gallery.read_example(folder) is not None
    weights = bytearray((folder / "model.pt").read_bytes())
    weights[-1] ^= 1
    (folder / "model.pt").write_bytes(bytes(weights))
    assert gallery.read_example(folder) is None
    (folder / "example.json").write_text("{broken")
    assert gallery.read_example(folder) is None


def test_overview_first_view_imports_no_torch_and_decodes_no_mnist(tmp_path):
    """In a fresh process: the whole first Overview run, with its figures, and neither torch nor MNIST loaded."""
    env = {**os.environ, "MBI_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", FIRST_VIEW], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = out.stdout.strip().splitlines()[-1].split()
    facts = dict(zip(line[::2], line[1::2]))
    assert int(facts["figures"]) >= 5  # pipeline and the 4 digits of the gallery (SVG images; the headline table is text)
    assert facts["torch"] == "False" and facts["decoded"] == "0"
    assert facts["optuna"] == "False" and facts["sklearn"] == "False"
    assert not (tmp_path / "data").exists()  # nothing decoded, so no uint8 copy yet


LOOKUP_PAGES = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=24 * 3600.0).run()
for page in ("glimpse_paths", "cluster_tree", "mixed_mbi"):
    at.switch_page(f"dashboard/pages/{page}.py")
    at.query_params.update({"images": "100"})
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    assert not at.error, (page, [e.value for e in at.error])
    assert at.get("plotly_chart"), page
heavy = sorted(m for m in sys.modules if m.split(".")[0] == "sklearn" or m.startswith("scipy.sparse"))
print("heavy", ",".join(heavy) or "-")
"""


@pytest.mark.usefixtures("default_table")
def test_lookup_pages_with_a_tree_keep_scikit_learn_out_of_the_server(artifacts):
    """In a fresh process: Glimpse paths, Cluster tree (its k-means tree built) and Mixed MBI run, and neither
    scikit-learn nor scipy.sparse is imported (the tree is built in a child process). scipy.linalg is not checked:
    numba imports its BLAS bindings whenever it loads a compiled kernel."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # MBI_HOME is the test's own (artifacts)
    out = subprocess.run([sys.executable, "-c", LOOKUP_PAGES], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert list((artifacts / "trees").glob("tree-*.npz"))  # the Cluster tree's view was built and kept
    heavy = out.stdout.strip().splitlines()[-1].split()[1]
    assert heavy == "-", heavy


RAM_PAGE = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=24 * 3600.0).run()
at.switch_page("dashboard/pages/ram_hyperparameters.py")
at.run()
assert not at.exception, [e.value for e in at.exception]
assert not at.error, [e.value for e in at.error]
print("title", at.title[0].value.replace(" ", "_"), "torch", "torch" in sys.modules, "optuna", "optuna" in sys.modules)
"""


def test_ram_hyperparameters_page_imports_no_torch(tmp_path):
    """In a fresh process: the RAM hyperparameters page (its form and the sweeps it lists) runs without torch;
    only a worker that trains imports it (``mbi.runs.sweep`` imports ``mbi.model.train`` inside the objective)."""
    env = {**os.environ, "MBI_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", RAM_PAGE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = out.stdout.strip().splitlines()[-1].split()
    facts = dict(zip(line[::2], line[1::2]))
    assert facts["title"].startswith("RAM"), facts
    assert facts["torch"] == "False" and facts["optuna"] == "True"


LOOKUP_WITHOUT_TORCH = """
import sys
import numpy as np
import mbi.inference.lookup, mbi.inference.tablesize, mbi.memory.lut, mbi.model.sensor, mbi.runs.gatecache
import mbi.runs.tracecache
assert "torch" not in sys.modules, "importing the lookup modules imported torch"
from mbi.inference.lookup import StepIndex
from mbi.memory.lut import cached_table
table = cached_table("default")
keys = np.asarray(table.keys_of_step(1)[:7])
rows, distance, _ = StepIndex(table).query(1, keys)
assert np.array_equal(rows, table.rows_of_step(1)[:7]) and not distance.any()  # every key finds itself
print("torch", "torch" in sys.modules)
"""


def test_loading_the_table_and_searching_it_import_no_torch(tmp_path):
    """In a fresh process: the lookup modules import, the shipped table loads and an exact search answers (each
    key of a step is its own nearest row, at distance 0) without torch."""
    env = {**os.environ, "MBI_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", LOOKUP_WITHOUT_TORCH], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "torch False"


LOOKUP_PAGES_WITHOUT_TORCH = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=24 * 3600.0).run()
for page, params in (("glimpse_paths", {"image": "7"}), ("perturbed_digit", {"image": "7"}), ("table_size", {"images": "100"}),
                     ("cluster_tree", {"images": "100"}), ("mixed_mbi", {"images": "100"})):
    at.switch_page(f"dashboard/pages/{page}.py")
    at.query_params.clear()
    at.query_params.update(params)
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    assert not at.error, (page, [e.value for e in at.error])
    assert at.get("plotly_chart"), page
print("torch", "torch" in sys.modules)
"""


@pytest.mark.usefixtures("default_table")
def test_lookup_pages_keep_torch_out_of_the_server(artifacts):
    """In a fresh process: Glimpse paths and Perturbed digit (unperturbed) on a test digit, and Table size, Cluster tree and Mixed MBI on 100 test images
    run and the server never imports torch (the RAM's glimpse trace of the test digits, the lookups' traces, the
    RAM's answers and the table-size curve are computed by child processes and read from disk)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # MBI_HOME is the test's own (artifacts)
    out = subprocess.run([sys.executable, "-c", LOOKUP_PAGES_WITHOUT_TORCH], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert list((artifacts / "traces").glob("*-ram-test-100-*.npz"))  # the RAM's answers came from a child
    assert list((artifacts / "traces").glob("*-ramtrace-test-10000-*.npz"))  # and its glimpses of every test digit
    assert list((artifacts / "budgets").glob("*.json"))
    assert out.stdout.strip().splitlines()[-1] == "torch False"
