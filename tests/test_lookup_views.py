"""The helpers behind the lookup pages: mixed MBI per class and fallbacks (mbi.inference.mixed), keys decoded for
display (mbi.memory.decode), row budgets as table prefixes (mbi.inference.tablesize) and cached traces (mbi.runs.tracecache).

A tiny random RAM and a table of 40 training images keep these fast.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mbi.inference.tablesize import budget_curve, budget_grid, cached_budget_curve, narrower_trace, table_prefix
from mbi.memory import decode
from mbi.memory.decode import central_keys, decode_key, location_counts, mean_key, node_centroid, subtree_rows
from mbi.inference.lookup import LookupTrace, StepIndex, lookup_infer
from mbi.memory.lut import build_table, distill, record_episodes
from mbi.search.distance import key_layout
from mbi.inference.mixed import (class_breakdown, default_threshold, mixed_curve, curve_thresholds, fallback_steps, fallbacks, mixed_point,
                       share_threshold)
from mbi.model.ram import trace as ram_trace
from mbi.search.searchers import KMeansTree
from mbi.runs.tracecache import cached_trace, load_trace, trace_images, trace_name
from mbi.model.predict import images_to_tensor
from tests.tiny import TINY_RAM as CFG

@pytest.fixture(scope="module")
def table(model, mnist):
    return distill(model, mnist.train_x[:40], "h")


def _trace(distance: np.ndarray, prediction: np.ndarray) -> LookupTrace:
    b, t = distance.shape
    readouts = np.zeros((b, t), dtype=np.uint8)
    readouts[:, -1] = prediction
    z = np.zeros((b, t), dtype=np.int64)
    return LookupTrace(np.zeros((b, t, 2), np.uint8), z, distance.astype(float), z, readouts,
                       np.zeros((b, t, 4), np.uint8))


# --------------------------------------------------------------------------- mixed MBI


def test_fallbacks_name_the_first_step_over_the_threshold():
    d = np.array([[1.0, 2.0, 1.0], [5.0, 1.0, 6.0], [1.0, 4.0, 9.0], [3.0, 3.0, 3.0]])
    tr = _trace(d, np.array([1, 2, 3, 4]))
    fb = fallbacks(tr, 3.0)
    np.testing.assert_array_equal(fb.image, [1, 2])
    np.testing.assert_array_equal(fb.step, [0, 1])
    np.testing.assert_array_equal(fb.distance, [5.0, 4.0])
    np.testing.assert_array_equal(fb.steps_over, [2, 2])
    np.testing.assert_array_equal(fb.max_distance, [6.0, 9.0])
    np.testing.assert_array_equal(fallback_steps(tr, 3.0), [1, 1, 0])
    assert len(fallbacks(tr, 100.0)) == 0 and len(fallbacks(tr, -1.0)) == 4


def test_class_breakdown_adds_up_to_the_mixed_point():
    rng = np.random.default_rng(0)
    n = 200
    labels = rng.integers(0, 10, n)
    ram = np.where(rng.random(n) < 0.9, labels, (labels + 1) % 10)
    look = np.where(rng.random(n) < 0.7, labels, (labels + 2) % 10)
    tr = _trace(rng.integers(0, 12, (n, 4)).astype(float), look)
    thr = 7.0
    point = mixed_point(tr, ram, labels, thr)
    assert point == mixed_curve(tr, ram, labels, [thr])[0]
    rows = class_breakdown(tr, ram, labels, thr)
    assert [r.label for r in rows] == list(range(10)) and sum(r.images for r in rows) == n
    weighted = sum(r.mixed_accuracy * r.images for r in rows if r.images) / n
    assert weighted == pytest.approx(point.accuracy)
    share = sum(r.lookup_share * r.images for r in rows if r.images) / n
    assert share == pytest.approx(point.lookup_share)
    for r in rows:
        m = labels == r.label
        assert r.ram_accuracy == pytest.approx(np.mean(ram[m] == r.label))
        assert r.lookup_only_accuracy == pytest.approx(np.mean(look[m] == r.label))


def test_class_breakdown_of_an_absent_class_is_empty_not_nan():
    tr = _trace(np.zeros((3, 2)), np.array([1, 1, 1]))
    rows = class_breakdown(tr, np.array([1, 1, 1]), np.array([1, 1, 1]), 0.0)
    assert rows[1].mixed_accuracy == 1.0 and rows[1].lookup_share == 1.0 and rows[1].ram_part_accuracy is None
    assert rows[0].images == 0 and rows[0].mixed_accuracy is None


def test_default_threshold_is_the_recorded_one_with_the_models_weights_else_the_papers_share():
    # largest distances per image: 1.0, 2.25, 3.0, 9.04 -> top = ceil(9.04 to 0.1) + 0.1 = 9.2
    d = np.array([[1.0, 0.5], [2.25, 1.0], [3.0, 3.0], [0.0, 9.04]])
    tr = _trace(d, np.zeros(4, dtype=np.int64))
    own = default_threshold(tr, recorded=2.21, own_weights=True)
    assert own.top == pytest.approx(9.2) and own.threshold == pytest.approx(2.3) and "recorded" in own.reason
    # other weights, no recorded value or one outside the slider: the smallest threshold answering 69.65%
    # of the images by lookup: ceil(0.6965 * 4) = 3 images -> the third smallest largest distance, 3.0
    for recorded, own_weights in ((2.21, False), (None, True), (99.0, True), (-1.0, True)):
        other = default_threshold(tr, recorded=recorded, own_weights=own_weights)
        assert other.threshold == pytest.approx(3.0) and "69.65%" in other.reason
    assert default_threshold(tr, None, False, share=1.0).threshold == pytest.approx(9.1)
    assert default_threshold(tr, None, False, share=0.0).threshold == 0.0


def test_share_threshold_and_curve_thresholds():
    d = np.array([[1.0], [2.0], [3.0], [4.0]])
    tr = _trace(d, np.zeros(4, int))
    assert share_threshold(tr, 0.5) == 2.0 and share_threshold(tr, 0.0) == 0.0 and share_threshold(tr, 1.0) == 4.0
    assert share_threshold(tr, 0.51) == 3.0
    thr = curve_thresholds(tr, 5)
    assert thr[0] == 0.0 and thr[-1] == 4.0 and thr == sorted(set(thr))
    with pytest.raises(ValueError, match="share"):
        share_threshold(tr, 1.5)
    with pytest.raises(ValueError, match="ram_pred"):
        mixed_point(tr, np.zeros(3, int), np.zeros(4, int), 1.0)


# --------------------------------------------------------------------------- decoding keys


def test_decoded_key_is_what_the_ram_read(model, mnist):
    images = mnist.test_x[:2]
    rec = record_episodes(model, images)
    tr = ram_trace(model, images_to_tensor(images))
    for t in range(CFG.num_glimpses):
        key = decode_key(rec.keys[1, t], model.cfg)
        np.testing.assert_allclose(key.intensity, tr.patches[1, t], atol=1e-6)
        np.testing.assert_array_equal(key.loc, tr.locs[1, t])  # the key holds the location read at step t
        np.testing.assert_array_equal(key.centre_px, tr.centres[1, t])
    assert key.widths_px == tuple(CFG.patch_size * CFG.glimpse_scale**k for k in range(CFG.num_patches))
    with pytest.raises(ValueError, match="columns"):
        decode_key(rec.keys[0, 0, :-1], model.cfg)


def test_tree_node_rows_and_centroid(table, monkeypatch):
    rows = table.rows_of_step(1)
    keys = table.keys[rows]
    tree = KMeansTree(keys, table.layout, (1, 1, 1), branching=3, leaf_size=4)
    s = tree.summary()
    np.testing.assert_array_equal(subtree_rows(s, 0), np.arange(len(keys)))
    children = np.flatnonzero(s.parent == 0)
    parts = [subtree_rows(s, c) for c in children]
    assert sum(len(p) for p in parts) == len(keys) and all(len(p) == s.size[c] for p, c in zip(parts, children))
    leaf = int(np.flatnonzero(s.is_leaf)[0])
    np.testing.assert_array_equal(subtree_rows(s, leaf), np.sort(s.leaf_rows[leaf]))
    np.testing.assert_allclose(node_centroid(keys, s, children[0]), keys[parts[0]].mean(axis=0))
    centre = decode_key(mean_key(keys), CFG)
    assert centre.patches.shape == (CFG.num_patches, CFG.patch_size, CFG.patch_size)
    assert 0 <= centre.intensity.min() and centre.intensity.max() <= 1
    near = central_keys(keys, table.layout, (1, 2, 0.5), 3)
    centre = mean_key(keys)
    a, b, c = 1 / 3.5, 2 / 3.5, 0.5 / 3.5
    lay = table.layout
    d = [(a * np.abs(k[lay.patch_cols] - centre[lay.patch_cols]).sum()
          + b * np.abs(k[lay.hidden_cols] - centre[lay.hidden_cols]).sum()
          + c * np.abs(k[lay.loc_cols] - centre[lay.loc_cols]).sum()) for k in keys.astype(float)]
    np.testing.assert_array_equal(near, np.argsort(d, kind="stable")[:3])
    counts = location_counts(keys, CFG)
    assert counts.shape == (CFG.loc_grid, CFG.loc_grid) and counts.sum() == len(keys)
    with pytest.raises(ValueError, match="node"):
        subtree_rows(s, len(s.node))
    far = central_keys(keys, table.layout, (1, 2, 0.5), len(keys))  # every key, ranked
    monkeypatch.setattr(decode, "_CHUNK_ROWS", 7)  # in blocks of 7 rows: the same distances, the same order
    np.testing.assert_array_equal(central_keys(keys, table.layout, (1, 2, 0.5), len(keys)), far)


# --------------------------------------------------------------------------- row budgets


def test_prefix_equals_a_distilled_budget(model, mnist):
    images = mnist.train_x[:30]
    rec = record_episodes(model, images)
    order = np.random.default_rng(3).permutation(len(images))
    full = build_table(rec, key_layout(model.cfg), "h", None, order)
    for rows in (9, 25, 50):
        budget = build_table(rec, key_layout(model.cfg), "h", rows, order)
        cut = table_prefix(full, rows)
        for f in ("keys", "next_hidden", "next_loc", "readout", "step", "count", "source"):
            np.testing.assert_array_equal(getattr(cut, f), getattr(budget, f), err_msg=f)
        assert cut.meta["rows_budget"] == rows
    assert table_prefix(full, len(full) + 5) is full
    with pytest.raises(ValueError, match="at least"):
        table_prefix(full, 2)


def test_budget_grid_and_curve(model, table, mnist):
    assert budget_grid(299_760) == [1000, 3000, 10000, 30000, 100000, 299760]
    assert budget_grid(500) == [500]
    x, y = mnist.val_x[:20], mnist.val_y[:20]
    seen = []
    points = budget_curve(model, table, x, y, [10, 60, 10**6], {"unweighted": (1, 1, 1), "w": (1, 2, 0.5)},
                          progress=lambda f, m: seen.append(f))
    assert [p.rows for p in points] == [10, 60, len(table)] and seen[-1] == pytest.approx(1.0)
    assert points[1].storage_bytes == table_prefix(table, 60).storage_bytes()["total_binary"]
    full = lookup_infer(model, table, x, index=StepIndex(table, (1, 2, 0.5)))
    assert points[-1].accuracy["w"] == pytest.approx(np.mean(full.prediction == y))
    assert set(points[0].to_dict()) == {"rows", "storage_bytes", "storage_thermometer_bytes", "accuracy_unweighted",
                                        "accuracy_w"}


FIELDS = ("locs", "rows", "distance", "comparisons", "readouts", "queries")


@pytest.mark.parametrize("weights", [(1, 1, 1), (1, 2, 0.5), (0.07, 0.08, 0.85)])
def test_narrower_trace_equals_a_plain_lookup_on_each_prefix(model, table, mnist, weights):
    x = mnist.test_x[:60]
    wider = lookup_infer(model, table, x, index=StepIndex(table, weights))
    paths_differ = 0
    for rows in (len(table) // 2, 60, 12):  # each from the next larger one, as budget_curve chains them
        part = table_prefix(table, rows)
        want = lookup_infer(model, part, x, index=StepIndex(part, weights))
        got = narrower_trace(model, part, x, StepIndex(part, weights), wider)
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f"{rows} rows: {f}")
        paths_differ += int(np.any(want.locs != wider.locs))
        wider = got
    assert paths_differ > 0  # the reuse was tested where the paths part too, not only on equal paths


def test_budget_curve_equals_plain_lookups_and_shares_the_full_trace(model, table, mnist):
    x, y = mnist.test_x[:50], mnist.test_y[:50]
    weightings = {"u": (1, 1, 1), "w": (1, 2, 0.5)}
    full: dict = {}
    points = budget_curve(CFG, table, x, y, [10, 40, 300, 10**6], weightings, full_traces=full)
    for point in points:
        part = table_prefix(table, point.rows)
        for name, weights in weightings.items():
            plain = lookup_infer(model, part, x, index=StepIndex(part, weights))
            assert point.accuracy[name] == float(np.mean(plain.prediction == y)), (point.rows, name)
    for name, weights in weightings.items():
        np.testing.assert_array_equal(full[name].queries, lookup_infer(model, table, x, weights=weights).queries)
    wrong = dataclasses.replace(full["u"], readouts=(full["u"].readouts + 1) % 10)  # a given trace is used as is
    again = budget_curve(CFG, table, x, y, [len(table)], {"u": (1, 1, 1)}, full_traces={"u": wrong})
    assert again[0].accuracy["u"] == float(np.mean(wrong.prediction == y))


def test_cached_budget_curve_is_reused(model, table, mnist, tmp_path):
    x, y = mnist.val_x[:10], mnist.val_y[:10]
    first = cached_budget_curve(model, table, x, y, "val:10", [12, 10**6], {"u": (1, 1, 1)}, root=tmp_path)
    again = cached_budget_curve(model, table, x, y, "val:10", [12, 10**6], {"u": (1, 1, 1)}, root=tmp_path,
                                progress=lambda f, m: pytest.fail("recomputed"))
    assert again == first and len(list((tmp_path / "budgets").glob("*.json"))) == 1


# --------------------------------------------------------------------------- cached traces


def test_cached_trace_is_the_lookup_and_is_reused(model, table, mnist, tmp_path):
    x = mnist.test_x[:25]
    index = StepIndex(table, (1, 1, 1))
    direct = lookup_infer(model, table, x, index=index)
    fractions = []
    chunked = trace_images(model, table, x, index, progress=fractions.append, chunk=10)
    assert fractions == [0.4, 0.8, 1.0]
    for f in ("rows", "distance", "readouts", "queries", "locs"):
        np.testing.assert_array_equal(getattr(chunked, f), getattr(direct, f))
    first = cached_trace(model, table, x, "test:25", root=tmp_path)
    files = list((tmp_path / "traces").glob("*.npz"))
    assert len(files) == 1
    again = cached_trace(model, table, x, "test:25", root=tmp_path, progress=lambda f: pytest.fail("recomputed"))
    np.testing.assert_array_equal(again.distance, first.distance)
    assert trace_name(table, (1, 1, 1), "brute", None, "test:25") != trace_name(table, (1, 2, 1), "brute", None,
                                                                                 "test:25")
    files[0].write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a valid"):
        load_trace(files[0])
    np.testing.assert_array_equal(cached_trace(model, table, x, "test:25", root=tmp_path).rows, direct.rows)


def test_a_reweighted_step_index_answers_as_one_built_with_those_weights(model, table, mnist):
    """StepIndex.reweighted (what the table-size curve uses for its second weighting): the same trace, field by
    field, as an index built anew with the other weights; an approximate index is refused."""
    x = mnist.val_x[:20]
    built = StepIndex(table, (1, 1, 1))
    moved = built.reweighted((1, 2, 0.5))
    assert moved.weights == StepIndex(table, (1, 2, 0.5)).weights and moved.searchers[0] is not built.searchers[0]
    want = lookup_infer(model, table, x, index=StepIndex(table, (1, 2, 0.5)))
    got = lookup_infer(model, table, x, index=moved)
    for f in ("locs", "rows", "distance", "comparisons", "readouts", "queries"):
        np.testing.assert_array_equal(getattr(got, f), getattr(want, f), err_msg=f)
    with pytest.raises(ValueError, match="re-weighted"):
        StepIndex(table, (1, 1, 1), eps=0.3).reweighted((1, 2, 0.5))
