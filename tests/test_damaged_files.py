"""Damaged and wrong-shaped files: every artifact the product reads, truncated, zeroed or random, and JSON
documents of every wrong type, give one message that names the file (a ValueError), never a traceback of
another kind; a run whose last.pt is damaged says so and restarts from its best checkpoint or from scratch
without deleting anything.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mbi import data
from mbi.cli import main
from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.inference.lookup import LookupTrace
from mbi.memory.lut import TableRecipe, distill, load_table, save_table
from mbi.model.checkpoint import DamagedFileError, load_config, load_model, lookup_settings
from mbi.model.train import DamagedRunError, resume_problem, train
from mbi.runs.studies import load_or_create, open_storage
from mbi.runs.tracecache import FIELDS, cached_trace, load_trace, save_trace, trace_path
from mbi.store import atomic_write_json, cache_limits, prune_oldest, read_json

SMALL = RAMConfig(num_glimpses=2, hidden_size=32, glimpse_hidden=32, loc_hidden=16, glimpse_size=32, state_size=16)


def _damaged(raw: bytes) -> dict[str, bytes]:
    """The three ways a file gets damaged: cut short, overwritten with zeros, replaced by random bytes."""
    rng = np.random.default_rng(len(raw))
    return {"truncated": raw[: len(raw) // 2], "zeroed": bytes(len(raw)),
            "random": rng.integers(0, 256, max(len(raw), 64), dtype=np.uint8).tobytes(), "empty": b""}


DAMAGE = ("truncated", "zeroed", "random", "empty")

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8)
WRONG_TYPES = [None, 3, -1.5, "ram", True, [], [{"ram": {}}], {"ram": None}, {"ram": 3}, {"train": []},
               {"ram": {"num_glimpses": "6"}}, {"ram": {"image_size": "x"}}, {"ram": {"patch_bits": [2]}},
               {"train": {"lr": None}}, {"ram": {"bogus": 1}}, {"extra": {}}]


@pytest.fixture(scope="module")
def run_folder(small_mnist, tmp_path_factory) -> Path:
    """A finished two-epoch run (validation every epoch), copied by each test that damages it."""
    out = tmp_path_factory.mktemp("run")
    cfg = RunConfig(SMALL, TrainConfig(epochs=2, batch_size=64, num_threads=1, train_limit=256, val_limit=200))
    list(train(cfg, out, data=small_mnist))
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


# --------------------------------------------------------------------------- config and lookup.json


@pytest.mark.parametrize("doc", WRONG_TYPES, ids=repr)
def test_wrong_shaped_config_is_one_message_naming_the_file(doc, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    atomic_write_json(tmp_path / "config.json", doc)
    with pytest.raises(ValueError, match="config.json"):
        load_config(tmp_path)
    (tmp_path / "cfg.json").write_text(json.dumps(doc))
    code = main(["train", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "out")])
    assert code == 2 and not (tmp_path / "out").exists()


@settings(max_examples=150, deadline=None)
@given(doc=JSON_VALUES)
def test_any_json_document_builds_a_config_or_says_why(doc):
    try:
        cfg = RunConfig.from_dict(doc)
    except ValueError as exc:
        assert str(exc)
    else:
        assert cfg == RunConfig.from_dict(cfg.to_dict())


def test_non_utf8_config_names_the_file(tmp_path, capsys):
    path = tmp_path / "cfg.json"
    path.write_bytes(b'{"ram": {"num_glimpses": 4}} \xff\xfe')
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "UTF-8" in err and "Traceback" not in err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=JSON_VALUES | st.fixed_dictionaries({}, optional={"weights": JSON_VALUES, "threshold": JSON_VALUES,
                                                             "table": JSON_VALUES}))
def test_any_lookup_json_is_read_or_refused_naming_the_file(doc, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "lookup.json").write_text(json.dumps(doc))
    try:
        settings_ = lookup_settings(tmp_path)
    except ValueError as exc:
        assert "lookup.json" in str(exc)
        return
    # what the readers do with an accepted document never fails on its shape
    try:
        TableRecipe.of(tmp_path)
    except ValueError as exc:
        assert "table" in str(exc)
    w = settings_.get("weights")
    assert w is None or (len(w) == 3 and sum(w) > 0)


@pytest.mark.parametrize("doc", [None, 3, [], {"table": None}, {"table": {"x": 1}}, {"table": {"shifts": 1}},
                                 {"weights": [1, 2]}, {"weights": [1, -1, 1]}, {"weights": "1,1,1"},
                                 {"threshold": "high"}, {"val_lookup_accuracy": None}], ids=repr)
def test_wrong_shaped_lookup_json_gives_one_message(doc, tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "lookup.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="lookup.json"):
        lookup_settings(tmp_path)
    with pytest.raises(ValueError, match="lookup.json"):
        TableRecipe.of(tmp_path)


# --------------------------------------------------------------------------- weights (item 8)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_weights_say_what_is_wrong_and_never_suggest_unsafe_loading(run_folder, tmp_path, damage):
    folder = _copy(run_folder, tmp_path / "run")
    (folder / "model.pt").write_bytes(_damaged((run_folder / "model.pt").read_bytes())[damage])
    with pytest.raises(DamagedFileError) as info:
        load_model(folder)
    text = str(info.value)
    assert str(folder / "model.pt") in text and "weights_only" not in text and "False" not in text
    assert "not a PyTorch weights file" in text or "archive is damaged" in text


class _Payload:
    def __reduce__(self):
        return (os.getcwd, ())


def test_weights_with_python_objects_are_refused_as_such(run_folder, tmp_path):
    folder = _copy(run_folder, tmp_path / "run")
    torch.save({"model": _Payload()}, folder / "model.pt")
    with pytest.raises(DamagedFileError, match="never loaded because they could run code") as info:
        load_model(folder)
    assert "weights_only" not in str(info.value)


def test_weights_of_another_model_say_so(run_folder, tmp_path):
    folder = _copy(run_folder, tmp_path / "run")
    torch.save({"glimpse.weight": torch.zeros(3)}, folder / "model.pt")
    with pytest.raises(DamagedFileError, match="do not fit the configuration"):
        load_model(folder)


# --------------------------------------------------------------------------- resuming a damaged run (item 6)


@pytest.mark.parametrize("damage", ["truncated", "zeroed", "random"])
def test_damaged_last_pt_names_the_file_and_offers_best_or_scratch(run_folder, tmp_path, small_mnist, damage):
    folder = _copy(run_folder, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    (folder / "last.pt").write_bytes(_damaged(before["last.pt"])[damage])
    cfg = RunConfig.from_dict(read_json(folder / "config.json"))
    cfg = RunConfig(cfg.ram, TrainConfig(**{**cfg.train.to_dict(), "epochs": 3}))
    with pytest.raises(DamagedRunError) as info:
        next(iter(train(cfg, folder, data=small_mnist)))
    best_epoch = read_json(folder / "metrics.json")["best_epoch"]
    assert info.value.path == folder / "last.pt" and info.value.best_epoch == best_epoch
    assert "last.pt" in str(info.value) and "Nothing was deleted" in str(info.value)
    assert resume_problem(folder).best_epoch == best_epoch
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # untouched so far
    events = list(train(cfg, folder, data=small_mnist, start="best"))
    assert events[0].epoch == best_epoch and [e.epoch for e in events if e.kind == "epoch"][0] == best_epoch + 1
    (aside,) = folder.glob("before-restart-*")
    assert (aside / "last.pt").read_bytes() == _damaged(before["last.pt"])[damage]
    assert (aside / "model.pt").read_bytes() == before["model.pt"]
    assert resume_problem(folder) is None  # the new last.pt reads


def test_cli_resume_of_a_damaged_run_is_one_line_with_the_choices(run_folder, tmp_path, capsys, monkeypatch,
                                                                   small_mnist):
    folder = _copy(run_folder, tmp_path / "run")
    (folder / "last.pt").write_bytes(b"\0" * 100)
    (folder / "model.pt").write_bytes(b"junk")  # no good checkpoint either: only scratch is offered
    monkeypatch.setattr("mbi.cli.train.load_dataset", lambda name, folder=None: small_mnist)
    flags = ["train", "--out", str(folder), "--num-glimpses", "2", "--hidden-size", "32", "--glimpse-hidden", "32",
             "--loc-hidden", "16", "--glimpse-size", "32", "--state-size", "16", "--epochs", "1",
             "--batch-size", "64", "--train-limit", "128", "--val-limit", "100", "--num-threads", "1"]
    assert main(flags) == 2
    err = capsys.readouterr().err
    assert "last.pt" in err and "--restart scratch" in err and "--restart best" not in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(flags + ["--restart", "scratch"]) == 0
    (aside,) = folder.glob("before-restart-*")
    assert (aside / "model.pt").read_bytes() == b"junk" and (aside / "last.pt").read_bytes() == b"\0" * 100
    load_model(folder)


# --------------------------------------------------------------------------- tables, traces, journals


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_table_is_one_message(model, mnist, tmp_path, damage):
    path = save_table(distill(model, mnist.train_x[:5], "abc"), tmp_path / "t.npz")
    path.write_bytes(_damaged(path.read_bytes())[damage])
    with pytest.raises(ValueError, match="not a valid lookup table"):
        load_table(path, "abc")


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_trace_is_one_message(tmp_path, damage):
    trace = LookupTrace(*(np.zeros((4, 3), dtype=np.int64) for _ in FIELDS))
    path = save_trace(trace, tmp_path / "t.npz")
    path.write_bytes(_damaged(path.read_bytes())[damage])
    with pytest.raises(ValueError, match="not a valid lookup trace"):
        load_trace(path)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_journal_is_one_message_or_a_readable_prefix(tmp_path, damage):
    path = tmp_path / "study.journal"
    study = load_or_create(open_storage(None, path), "s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    path.write_bytes(_damaged(path.read_bytes())[damage])
    try:
        again = load_or_create(open_storage(None, path), "s")
    except ValueError as exc:
        assert "not a readable Optuna journal" in str(exc) and str(path) in str(exc)
    else:  # Optuna replays the complete records of a cut file and drops the cut one
        assert damage in ("truncated", "empty") and len(again.trials) <= 2


# --------------------------------------------------------------------------- MNIST files (item 4)


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _idx_folder(root: Path, gz: bool) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (12, 28, 28)), "train_labels": rng.integers(0, 10, 12),
              "test_images": rng.integers(0, 256, (6, 28, 28)), "test_labels": rng.integers(0, 10, 6)}
    root.mkdir()
    for key, stem in data.IDX_FILES.items():
        raw = _idx(arrays[key])
        (root / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(raw) if gz else raw)
    return root


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("damage", DAMAGE + ("junk after gzip header",))
def test_damaged_idx_files_give_one_message_naming_the_file(tmp_path, gz, damage):
    folder = _idx_folder(tmp_path / "mnist", gz)
    assert len(data.load_from_idx(folder).train_x) == 10
    target = folder / (data.IDX_FILES["train_images"] + (".gz" if gz else ""))
    raw = target.read_bytes()
    bad = raw[:10] + b"\x00junk" * 20 if damage == "junk after gzip header" else _damaged(raw)[damage]
    target.write_bytes(bad)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load_from_idx(folder)


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_mnist_pickle_gives_one_message(tmp_path, damage):
    payload = gzip.compress(pickle.dumps(((np.zeros((2, 784), np.float32), np.zeros(2)),) * 3, protocol=2))
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(_damaged(payload)[damage])
    with pytest.raises(ValueError, match="mnist.pkl.gz"):
        data.load_from_pickle(path)


# --------------------------------------------------------------------------- the cache cap (item 9)


def test_cache_folder_is_capped_oldest_first(tmp_path):
    for i in range(6):
        (tmp_path / f"{i}.npz").write_bytes(b"x" * 100)
        os.utime(tmp_path / f"{i}.npz", (1000 + i, 1000 + i))
    removed = prune_oldest(tmp_path, max_bytes=10_000, max_files=4, keep=tmp_path / "0.npz", pattern="*.npz")
    assert sorted(p.name for p in removed) == ["1.npz", "2.npz"]
    removed = prune_oldest(tmp_path, max_bytes=250, max_files=100, pattern="*.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4.npz", "5.npz"]
    assert cache_limits({"MBI_DISK_CACHE_MB": "3", "MBI_DISK_CACHE_FILES": "7"}) == (3_000_000, 7)
    assert cache_limits({"MBI_CACHE_MB": "3"}) == cache_limits({})  # the memory cap is another setting
    with pytest.raises(ValueError, match="MBI_DISK_CACHE_FILES"):
        cache_limits({"MBI_DISK_CACHE_FILES": "-1"})


def test_trace_cache_keeps_the_newest_files_within_the_cap(model, mnist, tmp_path, monkeypatch):
    """Each new weight triple a link brings leaves a trace file; with MBI_DISK_CACHE_FILES=2 only the newest two stay."""
    table = distill(model, mnist.train_x[:20], "abc")
    monkeypatch.setenv("MBI_DISK_CACHE_FILES", "2")
    triples = [(1.0, 1.0, 1.0), (1.0, 2.0, 1.0), (1.0, 1.0, 2.0)]
    for weights in triples:
        cached_trace(model, table, mnist.val_x[:3], "val:3", weights, root=tmp_path)
    kept = sorted((tmp_path / "traces").glob("*.npz"))
    assert kept == sorted(trace_path(table, w, "brute", None, "val:3", tmp_path) for w in triples[1:])
