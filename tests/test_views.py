"""Precomputed first views (mbi.runs.views): restored only by name and checksum, recorded from the cache folders
only, and the shipped default model's views equal to a fresh computation of every page's default state."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mbi.runs import views
from mbi.store import atomic_save_npz, atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
RECORD = "python -m dashboard.warm --record-views default"


@pytest.fixture()
def shipped(tmp_path, monkeypatch):
    """A model folder whose ``views/`` was recorded from a hand-made home with a trace, a curve and a tree, and
    an empty cache root to restore into (shipped views on)."""
    monkeypatch.setenv(views.VARIABLE, "on")
    home = tmp_path / "home"
    atomic_save_npz(home / "traces" / "m-brute-test-10-abc.npz", rows=np.arange(12).reshape(3, 4))
    atomic_write_json(home / "budgets" / "m-def.json", {"points": [1, 2]})
    atomic_save_npz(home / "trees" / "tree-123.npz", parent=np.array([-1, 0, 0]))
    atomic_save_npz(home / "data" / "mnist" / "test_x.npy.npz", x=np.zeros(3))  # not a result: never recorded
    (home / "traces" / ".partial.npz").write_bytes(b"half")  # a temporary file: never recorded
    model = tmp_path / "model"
    listed = views.record(home, model)
    return home, model / views.VIEWS_DIR, tmp_path / "cache", listed


def test_record_keeps_only_the_result_caches_with_their_checksums(shipped):
    home, folder, _, listed = shipped
    assert sorted(listed) == ["budgets/m-def.json", "traces/m-brute-test-10-abc.npz", "trees/tree-123.npz"]
    for name, digest in listed.items():
        data = (folder / name).read_bytes()
        assert data == (home / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
    assert views.manifest(folder) == listed
    assert not (folder / "data").exists()
    signature = views.recorded_machine(folder)
    assert signature == views.machine_signature() and signature["cpu"] is not None and "numpy" in signature


def test_results_from_another_cpu_compare_to_float_rounding_and_trees_by_their_rows(tmp_path):
    """What the fresh-computation test accepts when the views were recorded on another CPU: float arrays within
    float32 rounding (not beyond), integer arrays exactly, a tree split otherwise over the same rows (not others)."""
    def save(name, **arrays):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        np.savez(path, **arrays)
        return path

    probs = np.random.default_rng(0).random((20, 10)).astype(np.float32)
    a = save("traces/a.npz", probs=probs, rows=np.arange(20))
    near = save("traces/b.npz", probs=probs + np.float32(3e-7), rows=np.arange(20))
    far = save("traces/c.npz", probs=probs + np.float32(1e-3), rows=np.arange(20))
    other_rows = save("traces/d.npz", probs=probs, rows=np.arange(1, 21))
    assert _same_result(a, a) and not _same_result(a, near)
    assert _same_result(a, near, exact=False) and not _same_result(a, far, exact=False)
    assert not _same_result(a, other_rows, exact=False)
    t1 = save("trees/t1.npz", parent=np.array([-1, 0, 0]), leaf_rows=np.array([3, 1, 2, 0]))
    t2 = save("trees/t2.npz", parent=np.array([-1, 0, 0, 1]), leaf_rows=np.array([0, 2, 1, 3]))
    t3 = save("trees/t3.npz", parent=np.array([-1, 0, 0]), leaf_rows=np.array([0, 1, 2, 4]))
    assert not _same_result(t1, t2) and _same_result(t1, t2, exact=False)
    assert not _same_result(t1, t3, exact=False)


def test_restore_copies_a_listed_file_and_nothing_else(shipped):
    home, folder, root, _ = shipped
    target = root / "traces" / "m-brute-test-10-abc.npz"
    assert views.restore(target, root, sources=[folder])
    assert target.read_bytes() == (home / "traces" / "m-brute-test-10-abc.npz").read_bytes()
    with np.load(target) as npz:
        assert np.array_equal(npz["rows"], np.arange(12).reshape(3, 4))
    assert not views.restore(root / "traces" / "m-brute-test-10-other.npz", root, sources=[folder])  # not shipped
    assert not (root / "traces" / "m-brute-test-10-other.npz").exists()
    assert not views.restore(root / "data" / "mnist" / "test_x.npy.npz", root, sources=[folder])  # not a result cache
    outside = root.parent / "elsewhere" / "traces" / "m-brute-test-10-abc.npz"
    assert not views.restore(outside, root, sources=[folder])  # not under the cache root
    assert not outside.exists()


def test_a_present_cache_file_is_kept(shipped):
    _, folder, root, _ = shipped
    target = root / "budgets" / "m-def.json"
    atomic_write_json(target, {"points": [9]})
    assert views.restore(target, root, sources=[folder])
    assert json.loads(target.read_text()) == {"points": [9]}


def test_a_damaged_shipped_file_is_not_restored(shipped):
    _, folder, root, _ = shipped
    data = bytearray((folder / "trees" / "tree-123.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "trees" / "tree-123.npz").write_bytes(bytes(data))
    assert not views.restore(root / "trees" / "tree-123.npz", root, sources=[folder])
    assert not (root / "trees" / "tree-123.npz").exists()


def test_restoring_off_computes(shipped, monkeypatch):
    _, folder, root, _ = shipped
    for value in ("off", "0", "no", "FALSE"):
        monkeypatch.setenv(views.VARIABLE, value)
        assert not views.enabled()
        assert not views.restore(root / "budgets" / "m-def.json", root, sources=[folder])
    monkeypatch.delenv(views.VARIABLE)
    assert views.enabled()


@pytest.mark.parametrize("name", ["../outside.npz", "traces/../../outside.npz", "data/x.npz", "traces/.hidden.npz",
                                  "traces/a/b.npz", "traces/", "traces\\..\\x.npz"])
def test_a_manifest_cannot_name_files_outside_the_caches(tmp_path, name):
    folder = tmp_path / "views"
    atomic_write_json(folder / views.MANIFEST, {"format": views.FORMAT_VERSION, "files": {
        name: {"sha256": "0" * 64}, "traces/ok.npz": {"sha256": "1" * 64}}})
    assert views.manifest(folder) == {"traces/ok.npz": "1" * 64}


@pytest.mark.parametrize("text", ["{broken", "[]", '{"format": 99, "files": {}}', '{"format": 1, "files": []}'])
def test_an_unreadable_manifest_restores_nothing(tmp_path, monkeypatch, text):
    monkeypatch.setenv(views.VARIABLE, "on")
    folder = tmp_path / "views"
    (folder / "traces").mkdir(parents=True)
    (folder / "traces" / "x.npz").write_bytes(b"data")
    (folder / views.MANIFEST).write_text(text)
    assert views.manifest(folder) == {}
    assert not views.restore(tmp_path / "cache" / "traces" / "x.npz", tmp_path / "cache", sources=[folder])


def _same_result(a: Path, b: Path, exact: bool = True) -> bool:
    """Two result files hold the same arrays (``.npz``: every array equal, dtypes too) or the same JSON.

    With ``exact`` False (the views were recorded on another CPU, :func:`mbi.runs.views.machine_signature`): the same
    arrays and dtypes, float arrays equal to float32 rounding (a softmax's last bits follow the CPU's kernels), and
    for a k-means tree (``trees/``), whose splits follow those bits, the same arrays over the same indexed rows."""
    if a.suffix == ".json":
        return json.loads(a.read_text()) == json.loads(b.read_text())
    with np.load(a, allow_pickle=False) as x, np.load(b, allow_pickle=False) as y:
        if sorted(x.files) != sorted(y.files) or any(x[k].dtype != y[k].dtype for k in x.files):
            return False
        if exact:
            return all(np.array_equal(x[k], y[k]) for k in x.files)
        if a.parent.name == "trees":
            return np.array_equal(np.sort(x["leaf_rows"]), np.sort(y["leaf_rows"]))
        return all(np.allclose(x[k], y[k], rtol=1e-5, atol=1e-6) if np.issubdtype(x[k].dtype, np.floating)
                   else np.array_equal(x[k], y[k]) for k in x.files)


@pytest.mark.usefixtures("default_table")
def test_shipped_default_views_equal_a_fresh_computation(tmp_path):
    """Every page of the default model opened in its default state on an empty MBI_HOME, with restoring off,
    computes exactly the files ``mbi/default_model/views`` ships, with the same contents."""
    folder = ROOT / "mbi" / "default_model" / views.VIEWS_DIR
    listed = views.manifest(folder)
    assert listed, f"{folder} has no manifest: run `{RECORD}`"
    env = {**os.environ, "MBI_HOME": str(tmp_path), views.VARIABLE: "off", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "dashboard.warm"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=3600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    fresh = {f"{p.parent.name}/{p.name}" for cache in views.CACHES for p in (tmp_path / cache).glob("*")
             if p.is_file() and not p.name.startswith(".")}
    assert fresh == set(listed), f"the pages now compute other files than the shipped views: run `{RECORD}`"
    exact = views.recorded_machine(folder) == views.machine_signature()
    for name in sorted(listed):
        assert _same_result(tmp_path / name, folder / name, exact), \
            f"{name} differs from a fresh computation{'' if exact else ' (beyond another CPU)'}: run `{RECORD}`"


PAGES_FROM_VIEWS = """
import sys
import mbi.runs.gatecache, mbi.runs.tracecache, mbi.runs.treecache

def refuse(*args, **kwargs):
    raise AssertionError("computed although the shipped views hold the result")

mbi.runs.tracecache._run_child = refuse       # the RAM's passes, lookup traces, the table-size curve
mbi.runs.treecache._compute_in_child = refuse  # the k-means tree
mbi.runs.treecache.compute_view = refuse
mbi.runs.gatecache.step_neighbours = refuse    # the learned gate's nearest rows
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=3600.0).run()
for page in ("glimpse_paths", "table_size", "cluster_tree", "mixed_mbi"):
    at.switch_page(f"dashboard/pages/{page}.py")
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
    assert not at.error, (page, [e.value for e in at.error])
    assert at.get("plotly_chart"), page
at.radio(key="mixed_fallback").set_value("fused").run()  # the RAM's class scores are a shipped view too
assert not at.exception and not at.error, [e.value for e in (*at.exception, *at.error)]
assert any("The fused fallback alone" in c.value for c in at.caption)
print("torch", "torch" in sys.modules)
"""


@pytest.mark.usefixtures("default_table")
def test_computing_pages_draw_from_the_shipped_views_on_an_empty_home(tmp_path):
    """In a fresh process on an empty MBI_HOME: Glimpse paths, Table size, Cluster tree and Mixed MBI draw their
    figures with every computation of a result replaced by an error, so each came from the shipped views."""
    env = {**os.environ, "MBI_HOME": str(tmp_path), views.VARIABLE: "on", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PAGES_FROM_VIEWS], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "torch False"
    restored = {f"{p.parent.name}/{p.name}" for cache in views.CACHES for p in (tmp_path / cache).glob("*")}
    assert restored <= set(views.manifest(ROOT / "mbi" / "default_model" / views.VIEWS_DIR))
    assert any(name.startswith("trees/") for name in restored) and any(name.startswith("budgets/") for name in restored)
