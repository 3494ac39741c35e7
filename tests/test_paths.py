"""The RAM's path beside the lookup's (mbi.inference.paths): hand-made traces and a real tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from mbi.inference.lookup import LookupTrace, lookup_infer
from mbi.inference.paths import compare_paths
from mbi.memory.lut import distill
from mbi.model.ram import Trace
from mbi.model.ram import trace as ram_trace
from mbi.model.predict import images_to_tensor


def _ram(locs, readouts, prediction) -> Trace:
    locs = np.asarray(locs)
    t = locs.shape[0]
    return Trace(centres=np.zeros((1, t, 2)), locs=locs[None], patches=np.zeros((1, t, 1, 1, 1)),
                 readouts=np.asarray(readouts)[None], probs=np.eye(10)[[prediction]], prediction=np.array([prediction]))


def _lookup(locs, readouts, rows, distance) -> LookupTrace:
    t = len(rows)
    return LookupTrace(np.asarray(locs, np.uint8)[None], np.asarray(rows)[None], np.asarray(distance, float)[None],
                       np.zeros((1, t), np.int64), np.asarray(readouts, np.uint8)[None], np.zeros((1, t, 4), np.uint8))


SOURCES = np.array([7, 11, 13, 17, 19, 23])


def test_paths_that_part_at_step_3_and_answer_differently():
    ram = _ram([[3, 3], [1, 2], [4, 4], [5, 5]], [1, 1, 7, 7], prediction=7)
    lookup = _lookup([[3, 3], [1, 2], [0, 4], [2, 2]], [1, 1, 1, 9], rows=[0, 2, 4, 5], distance=[0, 1.5, 3.0, 6.0])
    c = compare_paths(ram, lookup, SOURCES, threshold=4.0)
    assert c.first_cell_split == 3 and c.first_class_split == 3
    assert [s.same_cell for s in c.steps] == [True, True, False, False]
    assert [s.training_image for s in c.steps] == [7, 13, 19, 23]
    assert [s.over_threshold for s in c.steps] == [False, False, False, True]
    assert c.first_over == 4
    assert (c.ram_prediction, c.lookup_prediction) == (7, 9)
    assert c.by_lookup is False and c.mixed_prediction == 7  # a step over the threshold: the RAM answers


def test_paths_that_agree_are_answered_by_lookup_under_a_loose_threshold():
    ram = _ram([[3, 3], [1, 2]], [4, 4], prediction=4)
    lookup = _lookup([[3, 3], [1, 2]], [4, 4], rows=[1, 3], distance=[0.5, 2.0])
    c = compare_paths(ram, lookup, SOURCES, threshold=2.0)  # <= threshold counts as close enough
    assert c.first_cell_split is None and c.first_class_split is None and c.first_over is None
    assert c.by_lookup is True and c.mixed_prediction == 4
    none = compare_paths(ram, lookup, SOURCES)
    assert none.by_lookup is None and none.mixed_prediction is None and none.steps[0].over_threshold is None


def test_mismatched_traces_are_refused():
    with pytest.raises(ValueError, match="glimpses"):
        compare_paths(_ram([[0, 0]], [1], 1), _lookup([[0, 0], [1, 1]], [1, 1], [0, 1], [0, 0]), SOURCES)


def test_on_a_real_model_the_lookup_of_a_training_digit_follows_the_ram(model, mnist):
    """A digit the table was distilled from is found at distance 0 at every step: the two paths coincide."""
    images = mnist.train_x[:30]
    table = distill(model, images, "h")
    lt = lookup_infer(model, table, images[5:6])
    tr = ram_trace(model, images_to_tensor(images[5:6]))
    c = compare_paths(tr, lt, table.source, threshold=0.0)
    assert all(s.distance == 0 for s in c.steps)
    assert c.first_cell_split is None and c.by_lookup is True
    assert [s.ram_class for s in c.steps] == [s.lookup_class for s in c.steps]
    assert c.mixed_prediction == c.lookup_prediction
