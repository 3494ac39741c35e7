"""The compiled glimpse sensor gives bit-identical patch codes to the torch retina + quantizer.

References: ``model.retina.quantizer.codes(model.retina(x, loc))`` (what distillation and the
old lookup path computed) on the shipped model at every grid location, on random small
models, and on images made of pixel values whose pooled means land exactly on rounding ties.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mbi.config import RAMConfig
from mbi.model.predict import images_to_tensor
from mbi.model.ram import RAM
from mbi.model.sensor import GlimpseSensor

ROOT = Path(__file__).resolve().parents[1]
TIE_VALUES = np.array([0, 85, 170, 255, 42, 43, 127, 128, 64, 191, 1, 254], dtype=np.uint8)
"""Pixel values whose sums over 2x2 / 4x4 blocks hit exact halves of a quantization step (e.g. 85 + 85)."""


def torch_codes(model: RAM, images: np.ndarray, loc: np.ndarray) -> np.ndarray:
    """The reference: the torch retina's quantized patch vector, as integer levels."""
    with torch.no_grad():
        rho = model.retina(images_to_tensor(images), torch.from_numpy(loc.astype(np.int64)))
        return model.retina.quantizer.codes(rho).numpy()


def test_tie_values_really_hit_rounding_ties() -> None:
    # 85/255 twice in a 2x2 block: the float32 mean is 1/6 and times 3 exactly 0.5 (rounds to 0, not 1)
    v = np.float32(85) / np.float32(255)
    mean = (((np.float32(0) + v) + v) + np.float32(0) + np.float32(0)) / np.float32(4)
    assert mean * np.float32(3) == np.float32(0.5)


def test_shipped_model_every_location(mnist) -> None:
    from mbi.model.checkpoint import load_model

    if not (ROOT / "mbi" / "default_model" / "model.pt").is_file():
        pytest.skip("no shipped default model")
    model = load_model("default")
    sensor = GlimpseSensor(model)
    grid = model.cfg.loc_grid
    images = mnist.test_x[:150]
    for r in range(grid):
        loc = np.stack([np.full(len(images), r), np.tile(np.arange(grid), -(-len(images) // grid))[:len(images)]], 1)
        assert np.array_equal(sensor.codes(images, loc), torch_codes(model, images, loc))
    rng = np.random.default_rng(0)
    ties = TIE_VALUES[rng.integers(0, len(TIE_VALUES), (500, 28, 28))]
    loc = rng.integers(0, grid, (500, 2))
    assert np.array_equal(sensor.codes(ties, loc), torch_codes(model, ties, loc))


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 6), scale=st.integers(1, 3), count=st.integers(1, 3), bits=st.integers(1, 4),
       grid=st.integers(2, 14), seed=st.integers(0, 2**31 - 1), ties=st.booleans())
def test_random_models_and_images(size: int, scale: int, count: int, bits: int, grid: int, seed: int,
                                  ties: bool) -> None:
    cfg = RAMConfig(patch_size=size, glimpse_scale=scale, num_patches=count, patch_bits=bits, loc_grid=grid)
    torch.manual_seed(0)
    model = RAM(cfg).eval()
    rng = np.random.default_rng(seed)
    images = (TIE_VALUES[rng.integers(0, len(TIE_VALUES), (40, 28, 28))] if ties
              else rng.integers(0, 256, (40, 28, 28)).astype(np.uint8))
    loc = rng.integers(0, grid, (40, 2))
    assert np.array_equal(GlimpseSensor(model).codes(images, loc), torch_codes(model, images, loc))


def test_lookup_queries_equal_the_torch_path(mnist) -> None:
    from mbi.inference.lookup import StepIndex, lookup_infer
    from mbi.memory.lut import cached_table, query_key
    from mbi.model.checkpoint import load_model

    if not (ROOT / "mbi" / "default_model" / "table.npz").is_file():
        pytest.skip("no shipped default model")
    model, table = load_model("default"), cached_table("default")
    images = mnist.test_x[:100]
    trace = lookup_infer(model, table, images, index=StepIndex(table, (1.0, 1.0, 1.0)))
    hidden = np.zeros((len(images), table.layout.hidden_len), dtype=np.uint8)
    for t in range(table.num_glimpses):
        loc = trace.locs[:, t]
        expected = query_key(torch_codes(model, images, loc), hidden, loc)
        assert np.array_equal(trace.queries[:, t], expected)
        hidden = table.next_hidden[trace.rows[:, t]]


def test_errors() -> None:
    torch.manual_seed(0)
    model = RAM(RAMConfig(patch_size=4, num_patches=2, loc_grid=7)).eval()
    sensor = GlimpseSensor(model)
    with pytest.raises(ValueError, match="uint8"):
        sensor.codes(np.zeros((2, 28, 28), dtype=np.float32), np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="grid indices"):
        sensor.codes(np.zeros((2, 28, 28), dtype=np.uint8), np.full((2, 2), 7))
    with pytest.raises(ValueError, match="quantized retina"):
        GlimpseSensor(RAM(RAMConfig(patch_size=4, num_patches=2, loc_grid=7, patch_bits=None)))


@settings(max_examples=60, deadline=None)
@given(grid=st.integers(2, 40), image_size=st.integers(8, 64))
def test_grid_pixel_table_is_grid_to_pixel(grid: int, image_size: int) -> None:
    from mbi.model.ram import grid_to_pixel
    from mbi.model.sensor import grid_pixel_table

    expected = grid_to_pixel(torch.arange(grid), grid, image_size).numpy()
    np.testing.assert_array_equal(grid_pixel_table(grid, image_size), expected)


def test_a_sensor_from_the_configuration_alone_reads_the_same_codes(mnist) -> None:
    cfg = RAMConfig(patch_size=4, num_patches=3, glimpse_scale=2, loc_grid=9, patch_bits=3)
    images = mnist.test_x[:50]
    loc = np.random.default_rng(0).integers(0, cfg.loc_grid, size=(len(images), 2))
    model = RAM(cfg)
    np.testing.assert_array_equal(GlimpseSensor(cfg).codes(images, loc), torch_codes(model, images, loc))
    with pytest.raises(ValueError, match="quantized retina"):
        GlimpseSensor(RAMConfig(patch_size=4, num_patches=2, loc_grid=7, patch_bits=None))
