"""The RAM as a classifier, without training: images in, deterministic classes out.

Inference (:mod:`mbi.inference`), distillation (:mod:`mbi.memory.lut`) and training all read images
through :func:`images_to_tensor` and classify with :func:`predict` (location = policy mean, the
pass a lookup table memorizes).
"""

from __future__ import annotations

import numpy as np
import torch

from mbi.data import to_float
from mbi.model.ram import RAM


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (n, 28, 28) to a float tensor in [0, 1]."""
    return torch.from_numpy(to_float(images))


PREDICT_BATCH = 2000
"""Images per forward pass of :func:`predict` (a pass elsewhere with the same batches gives the same classes)."""


@torch.no_grad()
def class_logits(model: RAM, images: np.ndarray | torch.Tensor, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """The RAM's class scores (logits after its last glimpse, location = policy mean), ``float32 [n, classes]``:
    what :func:`predict` takes the argmax of, and what a fused mixed-MBI fallback combines with the lookup's
    (:mod:`mbi.inference.fallback`)."""
    model.eval()
    x = images if isinstance(images, torch.Tensor) else images_to_tensor(images)
    out = [model(x[i: i + batch_size]).logits for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, model.classifier.out_features), dtype=np.float32)


def predict(model: RAM, images: np.ndarray | torch.Tensor, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Deterministic class predictions (location = policy mean), as the lookup table sees the model, ``int64 [n]``
    (the argmax of :func:`class_logits`; ties: the lowest class)."""
    return class_logits(model, images, batch_size).argmax(axis=1).astype(np.int64)


def accuracy(model: RAM, images: np.ndarray | torch.Tensor, labels: np.ndarray) -> float:
    """Share of correct deterministic predictions."""
    return float(np.mean(predict(model, images) == np.asarray(labels)))
