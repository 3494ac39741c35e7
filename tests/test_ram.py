"""The RAM: batched retina against a per-sample reference, shapes, borders, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbi.config import RAMConfig
from mbi.model.ram import RAM, Retina, grid_to_pixel


def reference_patches(image: np.ndarray, centre: tuple[int, int], size: int, scale: int, count: int) -> list:
    """Plain per-sample retina: zero-pad, cut the square around ``centre``, block-average."""
    pad = size * scale ** (count - 1)
    padded = np.pad(image, pad)
    out = []
    for k in range(count):
        f = scale**k
        w = size * f
        r0, c0 = centre[0] - w // 2 + pad, centre[1] - w // 2 + pad
        crop = padded[r0: r0 + w, c0: c0 + w]
        out.append(crop.reshape(size, f, size, f).mean(axis=(1, 3)))
    return out


@pytest.mark.parametrize(("size", "scale", "count"), [(4, 2, 3), (5, 3, 2), (3, 2, 3), (1, 2, 2), (8, 1, 1)])
def test_retina_matches_reference_everywhere(size, scale, count):
    cfg = RAMConfig(patch_size=size, glimpse_scale=scale, num_patches=count, patch_bits=None, loc_grid=8)
    retina = Retina(cfg)
    rng = np.random.default_rng(0)
    images = rng.random((6, 28, 28)).astype(np.float32)
    # corners, edges and the middle of the grid
    locs = torch.tensor([[0, 0], [7, 7], [0, 7], [7, 0], [3, 4], [6, 1]])
    got = retina.patches(torch.from_numpy(images), locs)
    pixels = grid_to_pixel(locs, 8, 28).numpy()
    for b in range(6):
        ref = reference_patches(images[b], tuple(pixels[b]), size, scale, count)
        for k in range(count):
            assert got[k].shape[1:] == (size, size)
            np.testing.assert_allclose(got[k][b].numpy(), ref[k], rtol=1e-5, atol=1e-6)


def test_border_patch_is_whole_and_zero_padded():
    cfg = RAMConfig(patch_size=5, glimpse_scale=2, num_patches=1, patch_bits=None, loc_grid=28)
    img = torch.ones(1, 28, 28)
    patch = Retina(cfg).patches(img, torch.tensor([[0, 0]]))[0][0]
    assert patch.shape == (5, 5)
    # centre pixel (0, 0): rows/cols -2, -1 are padding, 0..2 are image
    assert patch[:2].sum() == 0 and patch[:, :2].sum() == 0 and patch[2:, 2:].sum() == 9


def test_quantized_patch_vector_levels():
    cfg = RAMConfig(patch_bits=2)
    rho = Retina(cfg)(torch.rand(3, 28, 28), torch.tensor([[1, 2], [13, 13], [6, 6]]))
    assert rho.shape == (3, cfg.patch_vector_len)
    assert set(torch.unique(torch.round(rho * 3)).tolist()) <= {0.0, 1.0, 2.0, 3.0}
    torch.testing.assert_close(rho * 3, torch.round(rho * 3))


def test_episode_shapes_and_hidden_bits():
    cfg = RAMConfig(num_glimpses=4, state_size=16, hidden_bits=1)
    torch.manual_seed(0)
    ep = RAM(cfg)(torch.rand(5, 28, 28), sample=True)
    assert ep.logits.shape == (5, 10) and ep.locs.shape == (5, 4, 2)
    assert ep.log_probs.shape == (5, 3) and ep.baselines.shape == (5, 3)
    assert ep.hiddens.shape == (5, 4, 16) and set(torch.unique(ep.hiddens).tolist()) <= {0.0, 1.0}
    assert ep.locs.min() >= 0 and ep.locs.max() < cfg.loc_grid


def test_step_is_deterministic_given_seed():
    cfg = RAMConfig()
    x = torch.rand(4, 28, 28)

    def run(seed: int):
        torch.manual_seed(seed)
        model = RAM(cfg)
        h, l = model.initial_state(4)
        out = model.step(x, h, l, sample=True, generator=torch.Generator().manual_seed(seed))
        return out.h, out.loc, out.log_prob

    a, b, c = run(3), run(3), run(4)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[2], c[2])


def test_deterministic_pass_ignores_noise():
    torch.manual_seed(0)
    model = RAM(RAMConfig()).eval()
    x = torch.rand(4, 28, 28)
    a, b = model(x), model(x)
    assert torch.equal(a.locs, b.locs) and torch.equal(a.logits, b.logits)


def test_locator_does_not_push_gradients_into_core():
    torch.manual_seed(0)
    model = RAM(RAMConfig(hidden_bits=None, num_glimpses=3))
    ep = model(torch.rand(4, 28, 28), sample=True)
    (ep.log_probs.sum() + ep.baselines.sum()).backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.core.parameters())
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in model.locator.parameters())


def test_bypass_restores_quantizers():
    model = RAM(RAMConfig())
    with model.quantizers_bypassed():
        assert model.core.quantizer.bits is None
    assert model.core.quantizer.bits == 1 and model.retina.quantizer.bits == 2


def test_authors_retina_wider_than_the_image_reads_zero_padding():
    """The authors' setting (3 patches of 4x4, scale 4) has a 64-px coarse patch, wider than the 28-px digit."""
    cfg = RAMConfig(patch_size=4, glimpse_scale=4, num_patches=3, patch_bits=None)
    assert cfg.largest_patch == 64
    retina = Retina(cfg)
    rng = np.random.default_rng(0)
    img = rng.random((1, 28, 28)).astype(np.float32)
    loc = torch.tensor([[2, 11]])
    coarse = retina.patches(torch.from_numpy(img), loc)[2][0].numpy()
    # reference: zero-pad generously, cut the 64-px window around the centre pixel, average 16x16 blocks
    cy, cx = grid_to_pixel(loc, cfg.loc_grid, 28)[0].tolist()
    big = np.pad(img[0], 100)
    window = big[100 + cy - 32: 100 + cy + 32, 100 + cx - 32: 100 + cx + 32]
    np.testing.assert_allclose(coarse, window.reshape(4, 16, 4, 16).mean(axis=(1, 3)), rtol=1e-5, atol=1e-6)
