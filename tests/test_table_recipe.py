"""The table extensions beyond the paper: shifted replays and label readouts (mbi.memory.lut)."""

from __future__ import annotations

import numpy as np
import pytest

from mbi.inference.lookup import lookup_infer
from mbi.memory.lut import distill, distill_recipe, record_episodes, shift_images
from mbi.memory.recipe import SHIFTS_1PX, SHIFTS_2PX, TableRecipe


@pytest.fixture(scope="module")
def images(mnist) -> np.ndarray:
    return mnist.train_x[:30]


@pytest.fixture(scope="module")
def labels(mnist) -> np.ndarray:
    return mnist.train_y[:30]


def test_shift_images_moves_pixels_and_fills_zeros():
    img = np.zeros((1, 4, 5), dtype=np.uint8)
    img[0, 1, 2] = 9
    img[0, 3, 4] = 7  # falls off when moved down or right
    down = shift_images(img, 1, 0)
    assert down[0, 2, 2] == 9 and down.sum() == 9
    left = shift_images(img, 0, -1)
    assert left[0, 1, 1] == 9 and left[0, 3, 3] == 7 and left.sum() == 16
    np.testing.assert_array_equal(shift_images(shift_images(img, 0, 1), 0, -1)[0, :, :4], img[0, :, :4])
    with pytest.raises(ValueError, match="out of view"):
        shift_images(img, 4, 0)


def test_shifted_table_extends_the_paper_table(model, images):
    plain = distill(model, images, "h")
    wide = distill(model, images, "h", shifts=SHIFTS_1PX)
    # the unshifted episodes come first, so the paper's table is a prefix of the extended one
    np.testing.assert_array_equal(wide.keys[: len(plain)], plain.keys)
    np.testing.assert_array_equal(wide.next_hidden[: len(plain)], plain.next_hidden)
    assert len(plain) < len(wide) <= 5 * len(plain)
    assert wide.meta["shifts"] == [list(s) for s in SHIFTS_1PX] and wide.meta["readout"] == "ram"
    # every extra row is a step of the RAM's own episode on a shifted copy of its source image
    extra = np.arange(len(plain), len(wide))
    shifted_keys = {tuple(k) for dy, dx in SHIFTS_1PX
                    for k in record_episodes(model, shift_images(images, dy, dx)).keys.reshape(-1, wide.keys.shape[1])}
    assert all(tuple(wide.keys[r]) in shifted_keys for r in extra)
    assert wide.source.min() >= 0 and wide.source.max() < len(images)
    # a budget fills with unshifted episodes first
    np.testing.assert_array_equal(distill(model, images, "h", rows=20, shifts=SHIFTS_1PX).keys, plain.keys[:20])


def test_two_pixel_table_adds_the_one_and_two_pixel_replays(model, images):
    assert sorted(SHIFTS_2PX) == sorted({(s * dy, s * dx) for s in (1, 2) for dy, dx in SHIFTS_1PX})
    plain = distill(model, images, "h")
    one = distill(model, images, "h", shifts=SHIFTS_1PX)
    two = distill(model, images, "h", shifts=SHIFTS_2PX)
    assert plain.meta["plain_rows"] == len(plain) == one.meta["plain_rows"] == two.meta["plain_rows"]
    np.testing.assert_array_equal(two.keys[: len(one)], one.keys)  # the 1-px replays come before the 2-px ones
    assert len(one) < len(two) <= 9 * len(plain)
    episodes = {tuple(k) for dy, dx in [(0, 0), *SHIFTS_2PX]
                for k in record_episodes(model, shift_images(images, dy, dx)).keys.reshape(-1, two.keys.shape[1])}
    assert {tuple(k) for k in two.keys} == episodes  # every step of every replay, and nothing else


def test_label_readout_answers_with_the_training_labels(model, images, labels):
    table = distill(model, images, "h", labels=labels)
    np.testing.assert_array_equal(table.readout, labels[table.source])
    assert table.meta["readout"] == "label"
    trace = lookup_infer(model, table, images)  # memorized images: every step is an exact match ...
    assert (trace.distance == 0).all()
    # ... of a row whose readout is the label of the image that first produced that key
    np.testing.assert_array_equal(trace.prediction, labels[table.source[trace.rows[:, -1]]])
    with pytest.raises(ValueError, match="one class per image"):
        distill(model, images, "h", labels=labels[:3])


def test_recipe_validation_and_file_names(tmp_path):
    assert TableRecipe().suffix == "" and TableRecipe("1px", "label").suffix == "-shift1px-label"
    assert TableRecipe("2px").suffix == "-shift2px"
    with pytest.raises(ValueError, match="shifts must be one of"):
        TableRecipe("3px")
    with pytest.raises(ValueError, match="readout must be one of"):
        TableRecipe(readout="vote")


def test_distill_recipe_matches_distill(model, images, labels):
    a = distill_recipe(model, images, labels, "h", TableRecipe("1px", "label"))
    b = distill(model, images, "h", shifts=SHIFTS_1PX, labels=labels)
    np.testing.assert_array_equal(a.keys, b.keys)
    np.testing.assert_array_equal(a.readout, b.readout)


def test_one_fingerprint_per_recipe_budget_and_model(model, images, labels):
    from mbi.inference.tablesize import table_prefix
    from mbi.memory.lut import table_fingerprint

    plain = distill(model, images, "h")
    recipes = {r: table_fingerprint(distill_recipe(model, images, labels, "h", r))
               for r in (TableRecipe(), TableRecipe("1px"), TableRecipe(readout="label"), TableRecipe("1px", "label"))}
    assert len(set(recipes.values())) == 4  # two recipes never share a disk-cache entry
    assert recipes[TableRecipe()] == table_fingerprint(plain)  # the fingerprint is deterministic
    # a label readout of the same keys is another table, even with equal sizes
    assert len(distill_recipe(model, images, labels, "h", TableRecipe(readout="label"))) == len(plain)
    assert table_fingerprint(distill(model, images, "other-model")) != table_fingerprint(plain)
    assert table_fingerprint(distill(model, images, "h", seed=1)) != table_fingerprint(plain)
    # a budget's prefix of the full table is the table distilled with that budget: one identity
    assert table_fingerprint(table_prefix(plain, 20)) == table_fingerprint(distill(model, images, "h", rows=20))
    assert table_fingerprint(table_prefix(plain, 20)) != table_fingerprint(plain)


def test_budget_and_trace_caches_use_the_fingerprint(model, images, labels, tmp_path):
    from mbi.inference.tablesize import cached_budget_curve
    from mbi.runs.tracecache import trace_name

    plain = distill(model, images, "h")
    labelled = distill_recipe(model, images, labels, "h", TableRecipe(readout="label"))
    assert trace_name(plain, (1, 1, 1), "brute", None, "val:5") != trace_name(labelled, (1, 1, 1), "brute", None,
                                                                           "val:5")
    x, y = images[:5], labels[:5]
    a = cached_budget_curve(model, plain, x, y, "train:5", [len(plain)], {"u": (1, 1, 1)}, root=tmp_path)
    b = cached_budget_curve(model, labelled, x, y, "train:5", [len(plain)], {"u": (1, 1, 1)}, root=tmp_path)
    assert len(list((tmp_path / "budgets").iterdir())) == 2  # before the fingerprint these shared one file
    assert b[0].accuracy["u"] == float(np.mean(labels[labelled.source[
        lookup_infer(model, labelled, x).rows[:, -1]]] == y)) and a[0].rows == b[0].rows
