"""Where the RAM looks on a few test digits: computed for any model, precomputed for the first view.

:func:`glimpse_gallery` runs the RAM deterministically on a few test digits and keeps what the
Overview draws (each digit, its label, the glimpse centres and the RAM's answer). The shipped
model also carries that result for the first digits in ``example.json`` beside its weights
(written by ``python -m mbi example``, checked against a fresh computation by the tests), with
the model's parameter count and the test split's size, so the Overview's first view needs neither
torch nor the images; :func:`read_example` returns it only while it still matches the model's weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mbi.data import require_dataset
from mbi.model.checkpoint import Checkpoint, model_hash, resolve_checkpoint
from mbi.store import atomic_write_text, read_json

if TYPE_CHECKING:
    from mbi.data import Dataset
    from mbi.model.ram import RAM

EXAMPLE_FILE = "example.json"
FORMAT_VERSION = 1
GALLERY_SIZE = 4


def glimpse_gallery(model: RAM, images: np.ndarray, labels: np.ndarray, first: int) -> dict:
    """The RAM's deterministic glimpses on ``images`` (uint8 [n, 28, 28]), the test digits ``first``, ``first+1``, ...

    Returns plain lists (JSON-ready): ``first``, ``images`` [n][28][28] ints, ``labels`` [n],
    ``centres`` [n][T][2] pixel (row, col) and ``predictions`` [n].
    """
    from mbi.model.ram import trace
    from mbi.model.predict import images_to_tensor

    tr = trace(model, images_to_tensor(np.asarray(images)))
    return {"first": int(first), "images": np.asarray(images, dtype=np.uint8).tolist(),
            "labels": [int(y) for y in labels], "centres": np.asarray(tr.centres).tolist(),
            "predictions": [int(p) for p in tr.prediction]}


def compute_example(checkpoint: str | Path | None, data: Dataset, count: int = GALLERY_SIZE) -> dict:
    """The first view's facts for ``checkpoint``: parameter count, test-split size and the first ``count`` test
    images of ``data`` (the checkpoint's own dataset; another is refused with a ValueError)."""
    ckpt = Checkpoint(resolve_checkpoint(checkpoint))
    require_dataset(f"model {ckpt.folder}", ckpt.dataset, data.name)
    model = ckpt.model
    return {"format": FORMAT_VERSION, "model_hash": ckpt.hash,
            "parameters": int(sum(p.numel() for p in model.parameters())), "test_size": int(len(data.test_y)),
            "gallery": glimpse_gallery(model, data.test_x[:count], data.test_y[:count], 0)}


def write_example(checkpoint: str | Path | None, data: Dataset) -> Path:
    """Compute the example and write it beside the weights (``example.json``, compact, atomic)."""
    folder = resolve_checkpoint(checkpoint)
    text = json.dumps(compute_example(folder, data), sort_keys=True, separators=(",", ":"))
    return atomic_write_text(folder / EXAMPLE_FILE, text + "\n")


def read_example(checkpoint: str | Path | None) -> dict | None:
    """The checkpoint's ``example.json``, or None when absent, damaged or made for other weights."""
    folder = resolve_checkpoint(checkpoint)
    try:
        example = read_json(folder / EXAMPLE_FILE)
        if example.get("format") != FORMAT_VERSION or example.get("model_hash") != model_hash(folder):
            return None
        gallery = example["gallery"]
        if not (len(gallery["images"]) == len(gallery["labels"]) == len(gallery["centres"])
                == len(gallery["predictions"])) or int(example["test_size"]) < len(gallery["images"]):
            return None
        return example
    except (OSError, ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return None
