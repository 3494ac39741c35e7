"""The recurrent attention model (Mnih et al. 2014) with the paper's quantized glimpses.

One box of the paper's Fig. 2 per class, composed in :meth:`RAM.step`, the single
function that training, distillation and the RAM fallback of mixed MBI all use.
Symbols follow the paper: ``x`` image, ``l`` location, ``rho`` the retina's patch
vector, ``g`` glimpse feature, ``h`` hidden state.

Shapes: B = batch, T = glimpses, P = patch vector length
(``num_patches * patch_size**2``), S = hidden-state width (``state_size``).
Locations are integer grid indices ``(row, col)`` in ``0 .. loc_grid-1``;
:func:`grid_to_pixel` turns them into pixel centres and :func:`grid_to_unit`
into the [-1, 1] coordinates the networks see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mbi.config import NUM_CLASSES, PATCH_RANGE, RAMConfig
from mbi.model.quant import Quantizer
from mbi.model.ramtrace import Trace


def grid_to_pixel(loc: torch.Tensor, grid: int, image_size: int) -> torch.Tensor:
    """Pixel centre (row, col) of grid location ``loc`` (long tensor [..., 2])."""
    return torch.round(loc.to(torch.float32) * (image_size - 1) / (grid - 1)).to(torch.int64)


def grid_to_unit(loc: torch.Tensor, grid: int) -> torch.Tensor:
    """Grid indices to coordinates in [-1, 1] (float tensor [..., 2])."""
    return loc.to(torch.float32) * (2.0 / (grid - 1)) - 1.0


def unit_to_grid(l: torch.Tensor, grid: int) -> torch.Tensor:
    """Coordinates in [-1, 1] to the nearest grid indices (clamped to the grid)."""
    return torch.round((l.clamp(-1.0, 1.0) + 1.0) * 0.5 * (grid - 1)).to(torch.int64)


class Retina(nn.Module):
    """Extract the multi-scale glimpse around a location, batched (no per-sample loop).

    Patch ``k`` covers ``patch_size * scale**k`` pixels centred on the location
    (for even sizes the centre pixel is the lower-right of the middle four) and is
    average-pooled down to ``patch_size``. The image is zero-padded so that every
    patch is whole at the border. The concatenated patches are quantized with the
    model's patch quantizer (range [0, 1]).
    """

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.patch_size = cfg.patch_size
        self.scale = cfg.glimpse_scale
        self.num_patches = cfg.num_patches
        self.grid = cfg.loc_grid
        self.image_size = cfg.image_size
        self.pad = cfg.largest_patch
        self.quantizer = Quantizer(cfg.patch_bits, *PATCH_RANGE)

    def patches(self, x: torch.Tensor, loc: torch.Tensor) -> list[torch.Tensor]:
        """Unquantized patches: a list of ``num_patches`` tensors [B, patch_size, patch_size]."""
        batch = x.shape[0]
        padded = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
        centre = grid_to_pixel(loc, self.grid, self.image_size) + self.pad
        rows_of = torch.arange(batch, device=x.device)[:, None, None]
        out = []
        for k in range(self.num_patches):
            factor = self.scale**k
            width = self.patch_size * factor
            start = centre - width // 2
            offsets = torch.arange(width, device=x.device)
            rows = (start[:, 0:1] + offsets)[:, :, None]
            cols = (start[:, 1:2] + offsets)[:, None, :]
            patch = padded[rows_of, rows, cols]
            if factor > 1:
                patch = F.avg_pool2d(patch.unsqueeze(1), factor).squeeze(1)
            out.append(patch)
        return out

    def forward(self, x: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """Quantized patch vector rho [B, P] of images ``x`` [B, H, W] at grid locations ``loc`` [B, 2]."""
        flat = torch.cat([p.flatten(1) for p in self.patches(x, loc)], dim=1)
        return self.quantizer(flat)


class GlimpseNet(nn.Module):
    """g = ReLU(W3 ReLU(W1 rho) + W4 ReLU(W2 l)): what and where of one glimpse."""

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.what = nn.Linear(cfg.patch_vector_len, cfg.glimpse_hidden)
        self.where = nn.Linear(2, cfg.loc_hidden)
        self.what_out = nn.Linear(cfg.glimpse_hidden, cfg.glimpse_size)
        self.where_out = nn.Linear(cfg.loc_hidden, cfg.glimpse_size)

    def forward(self, rho: torch.Tensor, l_unit: torch.Tensor) -> torch.Tensor:
        what = self.what_out(F.relu(self.what(rho)))
        where = self.where_out(F.relu(self.where(l_unit)))
        return F.relu(what + where)


class CoreNet(nn.Module):
    """h_t = Q(sigmoid(f(g_t, h_{t-1}))): the recurrent core with ``core_layers`` extra layers.

    The first layer mixes the glimpse and the previous state into ``hidden_size``
    units; each extra layer is a ReLU MLP layer, the last one narrowing to
    ``state_size`` (the paper's Fig. 3(c) knob). With the binary code the output
    is squashed to [0, 1] and quantized to ``hidden_bits``; with the one-hot code
    the state is the one-hot of the largest unit. Both pass gradients straight
    through (to the sigmoid, respectively the softmax, of the output).
    """

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.i2h = nn.Linear(cfg.glimpse_size, cfg.hidden_size)
        self.h2h = nn.Linear(cfg.state_size, cfg.hidden_size)
        widths = [cfg.hidden_size] * cfg.core_layers + [cfg.state_size]
        self.extra = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.quantizer = Quantizer(cfg.hidden_bits, 0.0, 1.0)
        self.onehot = cfg.hidden_code == "onehot"

    def forward(self, g: torch.Tensor, h_prev: torch.Tensor) -> torch.Tensor:
        z = self.i2h(g) + self.h2h(h_prev)
        for layer in self.extra:
            z = layer(F.relu(z))
        if self.onehot:
            probs = torch.softmax(z, dim=1)
            if self.quantizer.bits is None:  # float view (quantizers bypassed)
                return probs
            hard = F.one_hot(z.argmax(1), z.shape[1]).to(z.dtype)
            return hard + probs - probs.detach()
        return self.quantizer(torch.sigmoid(z))


class Locator(nn.Module):
    """Gaussian location policy: mu = tanh(W h), l ~ N(mu, std), snapped to the grid.

    It reads a detached ``h``: the locator learns only through REINFORCE and never
    pushes gradients into the core.
    """

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.state_size, cfg.hidden_size // 2)
        self.mu = nn.Linear(cfg.hidden_size // 2, 2)
        self.std = cfg.loc_std
        self.grid = cfg.loc_grid

    def forward(
        self, h: torch.Tensor, sample: bool, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next grid location [B, 2] and, when sampling, the log-probability [B] of the sample."""
        mu = torch.tanh(self.mu(F.relu(self.fc(h.detach()))))
        if not sample:
            return unit_to_grid(mu, self.grid), None
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        l = (mu + self.std * noise).detach()
        log_prob = torch.distributions.Normal(mu, self.std).log_prob(l).sum(dim=1)
        return unit_to_grid(l, self.grid), log_prob


@dataclass
class StepOutput:
    """What one glimpse step produces: the key parts it read and the value parts it wrote."""

    rho: torch.Tensor  # quantized patch vector read at loc_prev [B, P]
    h: torch.Tensor  # new hidden state [B, S]
    loc: torch.Tensor  # next grid location [B, 2]
    log_prob: torch.Tensor | None  # log pi(loc | h) when sampled [B]


@dataclass
class Episode:
    """A full pass over ``num_glimpses`` glimpses."""

    logits: torch.Tensor  # class scores from the last hidden state [B, 10]
    locs: torch.Tensor  # locations read at each glimpse [B, T, 2] (grid indices)
    log_probs: torch.Tensor  # log pi of the sampled locations l_1..l_{T-1} [B, T-1] (zeros if deterministic)
    baselines: torch.Tensor  # baseline predictions b_1..b_{T-1} [B, T-1]
    hiddens: torch.Tensor  # hidden states h_1..h_T [B, T, S]
    rhos: torch.Tensor  # patch vectors [B, T, P]


class RAM(nn.Module):
    """Recurrent attention model: retina, glimpse net, core, locator, baseline, classifier."""

    def __init__(self, cfg: RAMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.retina = Retina(cfg)
        self.glimpse = GlimpseNet(cfg)
        self.core = CoreNet(cfg)
        self.locator = Locator(cfg)
        self.baseline = nn.Linear(cfg.state_size, 1)
        self.classifier = nn.Linear(cfg.state_size, NUM_CLASSES)

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """h_0 (zeros [B, S]) and l_0 (grid centre [B, 2])."""
        h0 = torch.zeros(batch, self.cfg.state_size, device=device)
        l0 = torch.full((batch, 2), self.cfg.start_cell, dtype=torch.int64, device=device)
        return h0, l0

    def step(
        self,
        x: torch.Tensor,
        h_prev: torch.Tensor,
        loc_prev: torch.Tensor,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> StepOutput:
        """One glimpse: read rho at ``loc_prev``, update the hidden state, choose the next location.

        ``(rho, h_prev, loc_prev)`` is the lookup key and ``(h, loc, classifier(h))``
        the value that distillation records.
        """
        rho = self.retina(x, loc_prev)
        g = self.glimpse(rho, grid_to_unit(loc_prev, self.cfg.loc_grid))
        h = self.core(g, h_prev)
        loc, log_prob = self.locator(h, sample, generator)
        return StepOutput(rho, h, loc, log_prob)

    def forward(self, x: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None) -> Episode:
        """Run all glimpses on images ``x`` [B, H, W] (float in [0, 1]).

        ``sample=True`` draws locations from the policy (training); ``False`` uses
        the policy mean (deterministic inference, what lookup tables are distilled from).
        """
        h, loc = self.initial_state(x.shape[0], x.device)
        locs, log_probs, baselines, hiddens, rhos = [], [], [], [], []
        for t in range(self.cfg.num_glimpses):
            locs.append(loc)
            out = self.step(x, h, loc, sample=sample, generator=generator)
            h, loc = out.h, out.loc
            hiddens.append(h)
            rhos.append(out.rho)
            if t < self.cfg.num_glimpses - 1:
                baselines.append(self.baseline(h.detach()).squeeze(1))
                log_probs.append(out.log_prob if out.log_prob is not None else torch.zeros_like(baselines[-1]))
        empty = x.new_zeros(x.shape[0], 0)
        return Episode(
            logits=self.classifier(h),
            locs=torch.stack(locs, dim=1),
            log_probs=torch.stack(log_probs, dim=1) if log_probs else empty,
            baselines=torch.stack(baselines, dim=1) if baselines else empty,
            hiddens=torch.stack(hiddens, dim=1),
            rhos=torch.stack(rhos, dim=1),
        )

    def quantizers_bypassed(self) -> "_Bypass":
        """Context manager that evaluates the same weights with quantizers disabled (float view)."""
        return _Bypass(self)


class _Bypass:
    def __init__(self, model: RAM) -> None:
        self.model = model
        self.saved: list[tuple[Quantizer, int | None]] = []

    def __enter__(self) -> RAM:
        for q in (self.model.retina.quantizer, self.model.core.quantizer):
            self.saved.append((q, q.bits))
            q.bits = None
        return self.model

    def __exit__(self, *exc: object) -> None:
        for q, bits in self.saved:
            q.bits = bits


@torch.no_grad()
def trace(model: RAM, x: torch.Tensor) -> Trace:
    """Deterministic pass recording every glimpse: where it looked, what it saw, what it would answer."""
    model.eval()
    return episode_trace(model, model(x))


@torch.no_grad()
def episode_trace(model: RAM, ep: Episode) -> Trace:
    """:func:`trace` of the deterministic episode ``ep`` that ``model`` (in eval mode) already ran."""
    cfg = model.cfg
    b, t = ep.locs.shape[:2]
    patches = ep.rhos.reshape(b, t, cfg.num_patches, cfg.patch_size, cfg.patch_size)
    readouts = model.classifier(ep.hiddens).argmax(-1)
    probs = torch.softmax(ep.logits, dim=1)
    return Trace(
        centres=grid_to_pixel(ep.locs, cfg.loc_grid, cfg.image_size).numpy(),
        locs=ep.locs.numpy(),
        patches=patches.numpy(),
        readouts=readouts.numpy(),
        probs=probs.numpy(),
        prediction=probs.argmax(1).numpy().astype(np.int64),
    )
