"""The checkpoint owners: LookupSettings (lookup.json read and written in one place) and Checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mbi.config import RunConfig, TrainConfig
from mbi.memory.lut import distill, save_table
from mbi.memory.recipe import TableRecipe
from mbi.model.checkpoint import (THRESHOLD_RULE, Checkpoint, LookupSettings, SplitRecord, lookup_settings,
                                  model_hash)
from mbi.store import DEFAULT_MODEL_DIR, atomic_write_json
from tests.tiny import TINY_RAM

fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
maybe = lambda s: st.none() | s  # noqa: E731
split_records = st.builds(SplitRecord, images=maybe(st.integers(1, 60_000)), ram_accuracy=maybe(fraction),
                          lookup_accuracy=maybe(fraction), mixed_accuracy=maybe(fraction),
                          mixed_lookup_share=maybe(fraction))
settings = st.builds(
    LookupSettings,
    weights=maybe(st.tuples(*[st.floats(min_value=0.01, max_value=100.0)] * 3)),
    threshold=maybe(st.floats(min_value=0.0, max_value=50.0)),
    threshold_rule=maybe(st.just(THRESHOLD_RULE)),
    table=st.builds(TableRecipe, st.sampled_from(["none", "1px", "2px"]), st.sampled_from(["ram", "label"])),
    table_rows=maybe(st.integers(1, 10**6)), table_mb=maybe(st.floats(min_value=0.0, max_value=1e3)),
    splits=st.dictionaries(st.sampled_from(["val", "test"]), split_records),
)


def _drop_empty(s: LookupSettings) -> LookupSettings:
    """An empty split record writes nothing, so it reads back as absent."""
    import dataclasses
    return dataclasses.replace(s, splits={k: v for k, v in s.splits.items() if v != SplitRecord()})


@given(settings)
def test_settings_round_trip_through_json(s):
    text = json.dumps(s.to_json())
    assert LookupSettings.from_json(json.loads(text)) == _drop_empty(s)


def test_the_shipped_lookup_json_reads_and_writes_back_unchanged():
    raw = json.loads((DEFAULT_MODEL_DIR / "lookup.json").read_text())
    s = LookupSettings.from_json(raw)
    assert s.weights == tuple(raw["weights"]) and s.threshold == raw["threshold"]
    assert s.split("test").lookup_accuracy == raw["test_lookup_accuracy"]
    assert s.split("val").mixed_lookup_share == raw["val_mixed_lookup_share"]
    assert s.table == TableRecipe() and s.to_json() == raw
    assert lookup_settings("default") == raw


@pytest.mark.parametrize("data, match", [
    ([1, 2, 3], "must hold a JSON object"),
    ({"weights": [1, 2]}, "three numbers"),
    ({"weights": "1,2,3"}, "three numbers"),
    ({"weights": [1, "x", 2]}, "finite number"),
    ({"weights": [0, 0, 0]}, "not all be zero"),
    ({"threshold": "4.6"}, "'threshold' must be a finite number"),
    ({"threshold": True}, "'threshold' must be a finite number"),
    ({"test_images": 2.5}, "'test_images' must be an integer"),
    ({"val_lookup_accuracy": float("nan")}, "val_lookup_accuracy"),
    ({"table": {"shifts": "3px"}}, "table shifts must be one of"),
    ({"table": {"colour": "red"}}, "unknown table recipe field"),
    ({"table": "1px"}, "is not a table recipe"),
    ({"thresold": 4.6}, "unknown entry \\['thresold'\\]"),
    ({"train_lookup_accuracy": 0.9}, "unknown entry"),
    ({"threshold_rule": 3}, "must be text"),
])
def test_wrong_shaped_json_is_refused_with_what_is_wrong(data, match):
    with pytest.raises(ValueError, match=match):
        LookupSettings.from_json(data, "x/lookup.json")


def test_empty_settings_mean_unweighted_and_the_papers_table():
    s = LookupSettings()
    assert s.chosen_weights == (1.0, 1.0, 1.0) and s.table == TableRecipe() and s.to_json() == {}
    assert s.split("test") == SplitRecord()


def _checkpoint(tmp_path, model):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    atomic_write_json(folder / "config.json", RunConfig(TINY_RAM, TrainConfig()).to_dict())
    torch.save(model.state_dict(), folder / "model.pt")
    return folder


def test_checkpoint_reads_everything_once_and_records_lookup_settings(tmp_path, model, mnist):
    folder = _checkpoint(tmp_path, model)
    ckpt = Checkpoint(folder)
    assert ckpt.folder == folder and ckpt.config.ram == TINY_RAM and ckpt.metrics == {}
    assert ckpt.hash == model_hash(folder) and ckpt.model is ckpt.model
    assert ckpt.lookup == LookupSettings() and Checkpoint.of(ckpt) is ckpt
    record = LookupSettings(weights=(1.0, 0.5, 2.0), threshold=3.0, threshold_rule=THRESHOLD_RULE,
                            splits={"val": SplitRecord(images=10, lookup_accuracy=0.5)})
    ckpt.save_lookup(record)
    assert ckpt.lookup == record and Checkpoint(folder).lookup == record
    assert json.loads((folder / "lookup.json").read_text())["val_lookup_accuracy"] == 0.5
    table = distill(model, mnist.train_x[:20], ckpt.hash)
    save_table(table, tmp_path / "t.npz")
    assert len(ckpt.table(tmp_path / "t.npz")) == len(table)
    with pytest.raises(ValueError, match="not from the selected model"):
        Checkpoint(DEFAULT_MODEL_DIR).table(tmp_path / "t.npz")


def test_a_damaged_lookup_json_names_the_file(tmp_path, model):
    folder = _checkpoint(tmp_path, model)
    (folder / "lookup.json").write_text(json.dumps({"weights": [1, 2]}))
    with pytest.raises(ValueError, match=r"ckpt/lookup.json: 'weights' must hold three numbers"):
        Checkpoint(folder).lookup
    assert Checkpoint(folder).hash == model_hash(folder)  # the rest of the folder still reads
