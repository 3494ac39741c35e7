"""Write MNIST with every digit deskewed (:func:`first_glimpse.deskew`) as the four IDX files, for a RAM trained
and evaluated on deskewed digits (``MBI_MNIST_DIR=FOLDER``; the splits keep their order: the official training set
is train + val, the test set is test).

Usage: ``python docs/experiments/issue16/deskew_idx.py FOLDER``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from first_glimpse import deskew  # noqa: E402

from mbi.data import IDX_FILES, load_mnist  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8 [N] labels or [N, 28, 28] images) as an IDX file (big-endian header, magic 0x08 0x0D)."""
    header = np.array([0x800 + array.ndim, *array.shape], dtype=">u4")
    path.write_bytes(header.tobytes() + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    data = load_mnist()
    write_idx(folder / IDX_FILES["train_images"], deskew(np.concatenate([data.train_x, data.val_x])))
    write_idx(folder / IDX_FILES["train_labels"], np.concatenate([data.train_y, data.val_y]).astype(np.uint8))
    write_idx(folder / IDX_FILES["test_images"], deskew(np.asarray(data.test_x)))
    write_idx(folder / IDX_FILES["test_labels"], data.test_y.astype(np.uint8))


if __name__ == "__main__":
    main()
