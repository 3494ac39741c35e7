"""How big a RAM is: parameters and multiply-accumulates per image, counted from its modules.

The one owner of MAC counting. :func:`macs_per_image` runs one deterministic inference on a blank
image with a forward hook on every :class:`torch.nn.Linear` and adds ``in_features * out_features``
per row each layer really processes, so the count follows the model's code (glimpses, extra core
layers, the locator of every step, the classifier once) instead of a formula that could drift from
it. The baseline (a training-only REINFORCE critic that inference never needs) is left out; the
retina's average pooling and the quantizers are additions and comparisons, not MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mbi.model.ram import RAM

TRAINING_ONLY = ("baseline",)
"""Top-level submodules of :class:`~mbi.model.ram.RAM` that inference does not run."""


@dataclass(frozen=True)
class ModelSize:
    """Parameters (all, and those inference uses) and MACs of one inference of one image."""

    parameters: int
    inference_parameters: int
    macs_per_image: int
    macs_by_module: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {"parameters": self.parameters, "inference_parameters": self.inference_parameters,
                "macs_per_image": self.macs_per_image, "macs_by_module": dict(self.macs_by_module)}


def count_parameters(model: nn.Module, exclude: tuple[str, ...] = ()) -> int:
    """Number of trainable scalars of ``model``, leaving out top-level submodules named in ``exclude``."""
    return sum(p.numel() for name, p in model.named_parameters() if name.split(".", 1)[0] not in exclude)


@torch.no_grad()
def macs_per_image(model: RAM) -> dict[str, int]:
    """MACs of one deterministic inference of one image, per top-level submodule (glimpse, core, ...).

    Counted by hooks on every ``nn.Linear`` during ``model(x)`` on a single 28x28 image; a layer called
    on ``[B, in]`` adds ``B * in * out``. Training-only modules (:data:`TRAINING_ONLY`) are excluded.
    """
    counts: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        top = name.split(".", 1)[0]
        if isinstance(module, nn.Linear) and top not in TRAINING_ONLY:
            def hook(mod: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor, top: str = top) -> None:
                rows = inputs[0].numel() // mod.in_features
                counts[top] = counts.get(top, 0) + rows * mod.in_features * mod.out_features
            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, model.cfg.image_size, model.cfg.image_size))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return counts


def model_size(model: RAM) -> ModelSize:
    """Parameters and MACs per image of ``model`` (see :func:`macs_per_image`)."""
    by_module = macs_per_image(model)
    return ModelSize(count_parameters(model), count_parameters(model, TRAINING_ONLY), sum(by_module.values()),
                     by_module)
