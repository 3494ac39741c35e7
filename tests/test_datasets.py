"""Datasets by name: loading under a name, the missing-package message, and the dataset a checkpoint
and a table record (and the refusal to use them on another dataset's images)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import struct

import numpy as np
import pytest
import torch

from mbi import data
from mbi.cli import main
from mbi.config import RunConfig
from mbi.memory.lut import distill, load_table, save_table
from mbi.model.checkpoint import checkpoint_data, checkpoint_dataset
from mbi.model.ram import RAM
from mbi.store import atomic_save_npz
from tests.tiny import TINY_RAM


def _idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding written independently of the parser under test."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_folder(folder, rng: np.random.Generator, n_train: int = 12, n_test: int = 4) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    return arrays


@pytest.fixture()
def fresh_cache():
    data.load_dataset.cache_clear()
    yield
    data.load_dataset.cache_clear()


def test_fashion_mnist_from_env_folder(tmp_path, rng, monkeypatch, fresh_cache):
    arrays = _write_idx_folder(tmp_path / "fm", rng)
    monkeypatch.setenv("MBI_FASHION_MNIST_DIR", str(tmp_path / "fm"))
    ds = data.load_dataset("fashion-mnist")
    assert ds.name == "fashion-mnist" and ds.info.title == "Fashion-MNIST"
    # the fixed rule: the last sixth of the training file (10,000 of 60,000) is validation
    np.testing.assert_array_equal(ds.train_x, arrays["train-images-idx3-ubyte"][:10])
    np.testing.assert_array_equal(ds.val_y, arrays["train-labels-idx1-ubyte"][10:].astype(np.int64))
    np.testing.assert_array_equal(ds.test_x, arrays["t10k-images-idx3-ubyte"])
    assert ds.info.class_names[7] == "Sneaker" and len(ds.info.class_names) == 10


def test_explicit_folder_beats_env_and_names_the_dataset(tmp_path, rng, monkeypatch, fresh_cache):
    _write_idx_folder(tmp_path / "env", rng, n_train=6)
    arrays = _write_idx_folder(tmp_path / "flag", rng, n_train=18)
    monkeypatch.setenv("MBI_MNIST_DIR", str(tmp_path / "env"))
    ds = data.load_dataset("mnist", str(tmp_path / "flag"))
    assert ds.name == "mnist" and len(ds.train_x) == 15 and len(ds.val_x) == 3
    np.testing.assert_array_equal(ds.val_x, arrays["train-images-idx3-ubyte"][15:])
    assert data.dataset_info("mnist").class_names == tuple("0123456789")


def test_missing_fashion_mnist_names_both_ways(tmp_path, monkeypatch, fresh_cache):
    monkeypatch.delenv("MBI_FASHION_MNIST_DIR", raising=False)
    missing = dataclasses.replace(data.DATASETS["fashion-mnist"], system_dir=tmp_path / "not-installed")
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", missing)
    with pytest.raises(FileNotFoundError) as info:
        data.load_dataset("fashion-mnist")
    text = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in text and "MBI_FASHION_MNIST_DIR" in text
    assert "--data-dir" in text


def test_unknown_dataset_lists_the_names():
    with pytest.raises(ValueError, match="mnist, fashion-mnist"):
        data.dataset_info("cifar10")
    with pytest.raises(ValueError, match="fashion-mnist"):
        RunConfig(dataset="cifar10")


def test_run_config_records_dataset_and_old_configs_are_mnist():
    cfg = RunConfig(dataset="fashion-mnist")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg and cfg.to_dict()["dataset"] == "fashion-mnist"
    assert RunConfig.from_dict({"ram": {}, "train": {}}).dataset == "mnist"


def _checkpoint(folder, dataset: str) -> RAM:
    """A checkpoint folder of a random-init tiny RAM recorded as trained on ``dataset``."""
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    model = RAM(TINY_RAM).eval()
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "config.json").write_text(json.dumps(RunConfig(ram=TINY_RAM, dataset=dataset).to_dict()))
    return model


def test_checkpoint_dataset_is_checked_against_the_requested_one(tmp_path, rng, fresh_cache):
    _checkpoint(tmp_path / "fm-run", "fashion-mnist")
    assert checkpoint_dataset(tmp_path / "fm-run") == "fashion-mnist"
    with pytest.raises(ValueError, match=r"Fashion-MNIST \(fashion-mnist\), not to MNIST"):
        checkpoint_data(tmp_path / "fm-run", "mnist")
    _write_idx_folder(tmp_path / "idx", rng)
    ds = checkpoint_data(tmp_path / "fm-run", "fashion-mnist", tmp_path / "idx")
    assert ds.name == "fashion-mnist" and len(ds.train_x) == 10
    # a checkpoint saved before datasets had names is MNIST
    old = tmp_path / "old"
    _checkpoint(old, "mnist")
    cfg = json.loads((old / "config.json").read_text())
    del cfg["dataset"]
    (old / "config.json").write_text(json.dumps(cfg))
    assert checkpoint_dataset(old) == "mnist"


def test_cli_refuses_a_model_on_another_dataset(tmp_path, capsys):
    _checkpoint(tmp_path / "fm-run", "fashion-mnist")
    assert main(["evaluate", str(tmp_path / "fm-run"), "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "belongs to Fashion-MNIST" in err and "leave --dataset out" in err


def test_table_records_its_dataset_and_is_refused_on_another(tmp_path, rng):
    model = _checkpoint(tmp_path / "run", "fashion-mnist")
    images = rng.integers(0, 256, (8, 28, 28), dtype=np.uint8)
    table = distill(model, images, "hash", dataset="fashion-mnist")
    path = save_table(table, tmp_path / "t.npz")
    again = load_table(path, "hash", "fashion-mnist")
    assert again.dataset == "fashion-mnist" and len(again) == len(table)
    with pytest.raises(ValueError, match=r"table .* belongs to Fashion-MNIST"):
        load_table(path, "hash", "mnist")
    # a table written before tables named their dataset is MNIST
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays.pop("header")))
    del header["dataset"]
    old = atomic_save_npz(tmp_path / "old.npz", header=np.array(json.dumps(header)), **arrays)
    assert load_table(old, "hash").dataset == "mnist"
    with pytest.raises(ValueError, match="belongs to MNIST"):
        load_table(old, "hash", "fashion-mnist")


@pytest.mark.parametrize("command", [
    ["evaluate", "{ckpt}"], ["distill", "{ckpt}"], ["lookup", "{ckpt}"], ["bo", "{ckpt}"], ["robustness", "{ckpt}"],
    ["gate", "{ckpt}"], ["example", "{ckpt}"], ["energy", "--measured", "--checkpoint", "{ckpt}"],
    ["sram", "--accuracy", "--checkpoint", "{ckpt}"],
])
def test_every_command_that_reads_images_refuses_another_dataset(command, tmp_path, capsys):
    """Each command with a checkpoint takes --dataset and refuses one that is not the checkpoint's own, up front
    (no table is distilled and no image is read: the Fashion-MNIST files need not be installed)."""
    _checkpoint(tmp_path / "fm-run", "fashion-mnist")
    args = [a.format(ckpt=tmp_path / "fm-run") for a in command]
    assert main([*args, "--dataset", "mnist"]) == 2
    err = capsys.readouterr().err
    assert "belongs to Fashion-MNIST (fashion-mnist), not to MNIST (mnist)" in err, err


def test_gallery_refuses_another_datasets_images(tmp_path, rng):
    from mbi.model.gallery import compute_example

    _checkpoint(tmp_path / "fm-run", "fashion-mnist")
    images = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 6)
    mnist_like = data.Dataset(images, labels, images, labels, images, labels, source="test", name="mnist")
    with pytest.raises(ValueError, match="belongs to Fashion-MNIST"):
        compute_example(tmp_path / "fm-run", mnist_like)
    fashion_like = dataclasses.replace(mnist_like, name="fashion-mnist")
    assert len(compute_example(tmp_path / "fm-run", fashion_like, count=2)["gallery"]["labels"]) == 2


def test_configs_derived_from_a_base_keep_its_dataset():
    """A sweep item, a model-size family member and the app's smaller copy train on their base's dataset."""
    from mbi.runs.jobs import Limits, smaller_copy
    from mbi.runs.scaling import ScalingSpec
    from mbi.runs.sweep import SweepSpec

    base = {"dataset": "fashion-mnist", "ram": {"hidden_size": 64}, "train": {"epochs": 1}}
    sweep = SweepSpec.from_dict({"name": "s", "base": base, "axes": {"ram.num_glimpses": [2, 3]}})
    assert sweep.config_for({"ram.num_glimpses": 2}).dataset == "fashion-mnist"
    family = ScalingSpec.from_dict({"name": "f", "base": base, "members": [{"hidden_size": 32}]})
    assert family.config_for(family.members[0][0]).dataset == "fashion-mnist"
    assert smaller_copy(RunConfig(dataset="fashion-mnist"), Limits()).dataset == "fashion-mnist"
