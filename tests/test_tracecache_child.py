"""What needs the RAM, computed in a child process (``mbi.runs.tracecache``): the same trace, RAM answers and
table-size curve as the in-process functions on a tiny model, and a failing child's error text reaches the caller."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from mbi.config import RunConfig, TreeConfig
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.inference.tablesize import budget_curve
from mbi.memory.lut import cached_table, distill, save_table
from mbi.model.checkpoint import Checkpoint
from mbi.model.predict import images_to_tensor, predict
from mbi.model.ram import trace as ram_trace
from mbi.model.ramtrace import Trace
from mbi.model.ramtrace import load_trace as load_ram_trace
from mbi.runs import tracecache
from mbi.runs.tracecache import (ChildError, FIELDS, checkpoint_budget_curve, checkpoint_ram_predictions,
                                 checkpoint_ram_trace, checkpoint_trace, ram_trace_path, trace_images)
from tests.tiny import TINY_RAM

COUNT = 40
WEIGHTS = (1.0, 1.5, 0.5)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, model, mnist):
    """A checkpoint folder of the tiny seeded model with its table (300 training digits) beside the weights."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "config.json").write_text(json.dumps(RunConfig(ram=TINY_RAM).to_dict()))
    torch.save(model.state_dict(), folder / "model.pt")
    save_table(distill(model, mnist.train_x[:300], Checkpoint(folder).hash), folder / "table.npz")
    return folder


@pytest.mark.parametrize("kind, tree", [("brute", None), ("tree", TreeConfig(leaf_size=8, checks=2))])
def test_child_trace_equals_the_in_process_trace(tiny_checkpoint, model, mnist, artifacts, kind, tree):
    table = cached_table(tiny_checkpoint)
    expected = trace_images(model, table, mnist.test_x[:COUNT], StepIndex(table, WEIGHTS, kind, tree=tree))
    seen = []
    got = checkpoint_trace(tiny_checkpoint, table, "test", COUNT, WEIGHTS, kind, tree,
                           progress=lambda f, _: seen.append(f))
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(got, f), getattr(expected, f), err_msg=f)
    assert seen and seen[-1] == 1.0
    again = checkpoint_trace(tiny_checkpoint, table, "test", COUNT, WEIGHTS, kind, tree,
                             progress=lambda f, _: pytest.fail("read from disk: no child, no progress"))
    np.testing.assert_array_equal(again.queries, expected.queries)


def test_child_ram_answers_and_budget_curve_equal_in_process(tiny_checkpoint, model, mnist, artifacts):
    np.testing.assert_array_equal(checkpoint_ram_predictions(tiny_checkpoint, "test", COUNT),
                                  predict(model, mnist.test_x[:COUNT]))
    table = cached_table(tiny_checkpoint)
    budgets, weightings = [100, 300, len(table)], {"unweighted": (1.0, 1.0, 1.0), "weighted": WEIGHTS}
    expected = budget_curve(model, table, mnist.test_x[:COUNT], mnist.test_y[:COUNT], budgets, weightings)
    assert checkpoint_budget_curve(tiny_checkpoint, table, "test", COUNT, budgets, weightings) == expected


def test_child_ram_trace_equals_the_in_process_trace_row_by_row(tiny_checkpoint, model, mnist, artifacts):
    expected = ram_trace(model, images_to_tensor(mnist.test_x[:COUNT]))
    whole = checkpoint_ram_trace(tiny_checkpoint, "test", COUNT)
    one = checkpoint_ram_trace(tiny_checkpoint, "test", COUNT, slice(7, 8))  # read from disk this time
    for f in dataclasses.fields(Trace):
        want = getattr(expected, f.name)
        np.testing.assert_allclose(getattr(whole, f.name), want, rtol=0, atol=1e-6, err_msg=f.name)
        np.testing.assert_allclose(getattr(one, f.name), want[7:8], rtol=0, atol=1e-6, err_msg=f.name)
    assert ram_trace_path(tiny_checkpoint, f"test:{COUNT}").is_file()


def test_a_damaged_ram_trace_on_disk_is_computed_again(tiny_checkpoint, model, mnist, artifacts):
    path = ram_trace_path(tiny_checkpoint, f"test:{COUNT}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 not a zip archive")
    got = checkpoint_ram_trace(tiny_checkpoint, "test", COUNT, slice(3, 5))
    np.testing.assert_array_equal(got.locs, ram_trace(model, images_to_tensor(mnist.test_x[3:5])).locs)
    with pytest.raises(ValueError, match="not a readable RAM trace"):
        load_ram_trace(path.with_name("missing.npz"))


def test_lookups_need_only_the_models_configuration(tiny_checkpoint, model, mnist):
    table = cached_table(tiny_checkpoint)
    index = StepIndex(table, WEIGHTS)
    with_model = lookup_infer(model, table, mnist.test_x[:COUNT], index)
    with_config = lookup_infer(model.cfg, table, mnist.test_x[:COUNT], index)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(with_config, f), getattr(with_model, f), err_msg=f)


def test_a_failing_child_raises_its_error_text(tiny_checkpoint, tmp_path, artifacts):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_checkpoint / "config.json").read_text())
    (broken / "model.pt").write_bytes(b"not a weights file")
    with pytest.raises(ChildError, match="child process failed .*not a PyTorch weights file"):
        checkpoint_ram_predictions(broken, "test", COUNT)


def test_the_budget_curve_leaves_its_full_table_traces_for_the_lookup_pages(tiny_checkpoint, model, mnist, artifacts):
    table = cached_table(tiny_checkpoint)
    checkpoint_budget_curve(tiny_checkpoint, table, "test", COUNT, [100, len(table)],
                            {"unweighted": (1.0, 1.0, 1.0), "weighted": WEIGHTS})
    for weights in ((1.0, 1.0, 1.0), WEIGHTS):
        expected = trace_images(model, table, mnist.test_x[:COUNT], StepIndex(table, weights))
        got = checkpoint_trace(tiny_checkpoint, table, "test", COUNT, weights,
                               progress=lambda f, _: pytest.fail("the curve's trace is on disk: no child"))
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(expected, f), err_msg=f)


def test_one_ram_pass_leaves_both_its_classes_and_its_glimpse_trace(tiny_checkpoint, model, mnist, artifacts,
                                                                    monkeypatch):
    checkpoint_ram_trace(tiny_checkpoint, "test", COUNT)
    monkeypatch.setattr(tracecache, "_run_child", lambda job, progress: pytest.fail("the classes are on disk"))
    np.testing.assert_array_equal(checkpoint_ram_predictions(tiny_checkpoint, "test", COUNT),
                                  predict(model, mnist.test_x[:COUNT]))
    # and its class scores: the in-process logits (a fused fallback's input), read from disk, no second child
    from mbi.model.predict import class_logits

    np.testing.assert_allclose(tracecache.checkpoint_ram_logits(tiny_checkpoint, "test", COUNT),
                               class_logits(model, mnist.test_x[:COUNT]), rtol=0, atol=1e-6)
