"""Uniform quantizers with straight-through gradients.

A quantizer maps a value in its fixed range ``[lo, hi]`` to one of ``2**bits``
evenly spaced levels. The range and the bit width are buffers of the module,
so they are saved in the model's state dict and the very same quantizer is
applied at training, at distillation and at lookup time. In the backward pass
the rounding is treated as the identity inside the range (straight-through
estimator) and as a constant outside it (the clamp's true gradient).
"""

from __future__ import annotations

import torch
from torch import nn


class Quantizer(nn.Module):
    """Round ``x`` to ``2**bits`` levels of ``[lo, hi]``; ``bits=None`` passes values through."""

    def __init__(self, bits: int | None, lo: float = 0.0, hi: float = 1.0) -> None:
        super().__init__()
        if bits is not None and not 1 <= bits <= 16:
            raise ValueError(f"bits must be between 1 and 16 or None, got {bits}")
        if not hi > lo:
            raise ValueError(f"quantizer range needs hi > lo, got lo={lo}, hi={hi}")
        self.bits = bits
        self.register_buffer("lo", torch.tensor(float(lo)))
        self.register_buffer("hi", torch.tensor(float(hi)))

    @property
    def num_levels(self) -> int | None:
        """Number of levels, or None when the quantizer is disabled."""
        return None if self.bits is None else 2**self.bits

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Integer level index in ``0 .. 2**bits - 1`` of every element (no gradient)."""
        if self.bits is None:
            raise ValueError("a float (bits=None) quantizer has no integer codes")
        steps = self.num_levels - 1
        scaled = (x.detach().clamp(self.lo, self.hi) - self.lo) / (self.hi - self.lo) * steps
        return torch.round(scaled).to(torch.int64)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """The value represented by integer level ``codes``."""
        if self.bits is None:
            raise ValueError("a float (bits=None) quantizer has no integer codes")
        step = (self.hi - self.lo) / (self.num_levels - 1)
        return self.lo + codes.to(self.lo.dtype) * step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Quantized ``x`` with a straight-through gradient inside ``[lo, hi]``."""
        if self.bits is None:
            return x
        clamped = torch.minimum(torch.maximum(x, self.lo), self.hi)
        quantized = self.decode(self.codes(x))
        return clamped + (quantized - clamped).detach()

    def extra_repr(self) -> str:
        return f"bits={self.bits}, lo={float(self.lo):g}, hi={float(self.hi):g}"
