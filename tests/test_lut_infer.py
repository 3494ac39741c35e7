"""Distillation, lookup-only and mixed MBI against the RAM itself, and table files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mbi.inference.bo import run_bo
from mbi.config import RAMConfig, TreeConfig
from mbi.inference.lookup import StepIndex, evaluate_lookup, lookup_infer
from mbi.inference.mixed import mixed_curve, mixed_predictions
from mbi.memory.lut import build_table, distill, load_table, record_episodes, save_table
from mbi.model.ram import RAM
from mbi.model.predict import predict
from mbi.search.distance import key_layout
from mbi.search.weights import from_ratios, normalize


@pytest.fixture(scope="module")
def images(mnist) -> np.ndarray:
    return mnist.train_x[:40]


def test_records_match_the_ram_step_by_step(model, images):
    rec = record_episodes(model, images[:5])
    with torch.no_grad():
        ep = model(torch.from_numpy(images[:5].astype(np.float32) / 255))
    lay = key_layout(model.cfg)
    assert rec.keys.shape == (5, 3, lay.width)
    np.testing.assert_array_equal(rec.keys[:, :, lay.loc_cols], ep.locs.numpy())
    np.testing.assert_array_equal(rec.next_hidden, ep.hiddens.numpy().astype(np.uint8))
    np.testing.assert_array_equal(rec.keys[:, 1:, lay.hidden_cols], rec.next_hidden[:, :-1])
    assert (rec.keys[:, 0, lay.hidden_cols] == 0).all()
    np.testing.assert_array_equal(rec.readout[:, -1], ep.logits.argmax(1).numpy())


def test_table_that_memorized_images_answers_like_the_ram(model, images):
    table = distill(model, images, "hash", rows=None)
    trace = lookup_infer(model, table, images)
    np.testing.assert_array_equal(trace.prediction, predict(model, images))
    assert (trace.distance == 0).all()  # every query is a stored key


def test_merging_and_row_budget(model, images):
    rec = record_episodes(model, images)
    dup = type(rec)(*(np.concatenate([getattr(rec, f)] * 2) for f in ("keys", "next_hidden", "next_loc", "readout")))
    table = build_table(dup, key_layout(model.cfg), "h")
    full = build_table(rec, key_layout(model.cfg), "h")
    assert len(table) == len(full) and table.meta["conflicts"] == 0
    assert table.count.sum() == dup.keys.shape[0] * dup.keys.shape[1] and (table.count >= 2).all()
    small = build_table(rec, key_layout(model.cfg), "h", rows=7)
    assert len(small) == 7
    np.testing.assert_array_equal(small.keys, full.keys[:7])  # first distinct keys in replay order


def test_storage_bytes_hand_computed(model, images):
    table = distill(model, images[:4], "h")
    size = table.storage_bytes()
    # key: 3*4*4 patch elements x 2 bits + 16 hidden bits + 2 x 3 bits location = 118 bits -> 15 bytes
    assert size["key_binary"] == len(table) * 15
    # thermometer: 48 x 3 + 16 + 2 x 6 = 172 bits -> 22 bytes; value: 16 + 6 + 4 = 26 bits -> 4 bytes
    assert size["key_thermometer"] == len(table) * 22 and size["value"] == len(table) * 4


def test_mixed_extremes(model, mnist, images):
    table = distill(model, images, "h")
    x, y = mnist.val_x[:30], mnist.val_y[:30]
    trace = lookup_infer(model, table, x)
    ram = predict(model, x)
    pred_inf, mask_inf = mixed_predictions(trace, ram, np.inf)
    np.testing.assert_array_equal(pred_inf, trace.prediction)
    assert mask_inf.all()
    pred_neg, mask_neg = mixed_predictions(trace, ram, -1.0)
    np.testing.assert_array_equal(pred_neg, ram)
    assert not mask_neg.any()
    curve = mixed_curve(trace, ram, y, [-1.0, np.inf])
    assert curve[0].lookup_share == 0 and curve[1].lookup_share == 1
    assert curve[1].accuracy == pytest.approx(np.mean(trace.prediction == y))


def test_tree_with_big_leaves_equals_brute_force(model, mnist, images):
    table = distill(model, images, "h")
    x = mnist.val_x[:20]
    brute = lookup_infer(model, table, x, index=StepIndex(table, (1, 0.5, 2)))
    tree = lookup_infer(model, table, x, index=StepIndex(table, (1, 0.5, 2), "tree", tree=TreeConfig(leaf_size=10_000)))
    np.testing.assert_array_equal(brute.rows, tree.rows)
    np.testing.assert_allclose(brute.distance, tree.distance)


def test_evaluate_lookup_report(model, mnist, images):
    table = distill(model, images, "h")
    res = evaluate_lookup(model, table, mnist.val_x[:20], mnist.val_y[:20], thresholds=[0.0, 1e9])
    assert res["images"] == 20 and res["mixed"][1]["lookup_share"] == 1.0
    assert res["comparisons_per_query"] == pytest.approx(len(table) / 3, rel=0.5)


def test_table_file_round_trip_and_errors(model, images, tmp_path):
    table = distill(model, images[:10], "abc")
    path = save_table(table, tmp_path / "t.npz")
    back = load_table(path, "abc")
    np.testing.assert_array_equal(back.keys, table.keys)
    assert back.layout == table.layout and back.meta == table.meta
    with pytest.raises(ValueError, match="distilled from model abc"):
        load_table(path, "other")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(ValueError, match="not a valid lookup table"):
        load_table(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="distill"):
        load_table(tmp_path / "missing.npz")


def test_float_ram_has_no_table():
    with pytest.raises(ValueError, match="quantized RAM"):
        key_layout(RAM(RAMConfig(hidden_bits=None)).cfg)


def test_bo_weights_and_unweighted_first(model, mnist, images, tmp_path):
    assert normalize((2.0, 1.0, 1.0)) == (0.5, 0.25, 0.25)
    assert from_ratios(1.0, 2.0) == pytest.approx((0.25, 0.25, 0.5))
    table = distill(model, images, "h")
    res = run_bo(model, table, mnist.val_x[:20], mnist.val_y[:20], n_trials=3, storage=tmp_path / "bo.journal")
    first = res.study.trials[0]
    assert first.user_attrs["unweighted"] and res.unweighted_accuracy == first.value
    assert res.best_accuracy >= res.unweighted_accuracy
    again = run_bo(model, table, mnist.val_x[:20], mnist.val_y[:20], n_trials=3, storage=tmp_path / "bo.journal")
    assert len(again.study.trials) == 3  # resumed, nothing redone


def test_tree_quality_against_brute_force(model, mnist, images):
    table = distill(model, images, "h")
    exact = evaluate_lookup(model, table, mnist.val_x[:20], mnist.val_y[:20], kind="tree",
                            tree=TreeConfig(leaf_size=10_000))
    q = exact["tree_vs_brute_force"]
    assert q["exact_share"] == 1.0 and q["max_normalized_error"] == 0.0 and q["mean_levels"] == 0.0
    small = evaluate_lookup(model, table, mnist.val_x[:20], mnist.val_y[:20], kind="tree",
                            tree=TreeConfig(leaf_size=4, branching=2))
    q = small["tree_vs_brute_force"]
    assert q["mean_levels"] > 0 and q["fewer_comparisons"] > 1 and 0 <= q["exact_share"] <= 1
    assert len(q["per_step_exact_share"]) == 3


def test_query_key_is_patch_then_hidden_then_location():
    from mbi.memory.lut import query_key

    key = query_key(torch.tensor([[3, 0, 2]]), np.array([[1, 0]], dtype=np.uint8), torch.tensor([[6, 5]]))
    assert key.dtype == np.uint8 and key.tolist() == [[3, 0, 2, 1, 0, 6, 5]]


def test_lookup_queries_are_the_keys_distillation_wrote(model, images):
    rec = record_episodes(model, images[:6])
    table = distill(model, images[:6], "h")
    trace = lookup_infer(model, table, images[:6])
    np.testing.assert_array_equal(trace.queries, rec.keys)  # one key function on both sides


def test_one_key_layout_for_tables_and_the_sram():
    from mbi.hardware.sram import key_parts_from_layout, key_parts_from_ram

    cfg = RAMConfig(num_patches=2, patch_size=3, patch_bits=3, state_size=20, hidden_bits=1, loc_grid=9)
    lay = key_layout(cfg)
    assert (lay.patch_len, lay.patch_levels, lay.hidden_len, lay.hidden_levels, lay.loc_levels) == (18, 8, 20, 2, 9)
    assert key_parts_from_ram(cfg) == key_parts_from_layout(lay)
    with pytest.raises(ValueError, match="quantized RAM"):
        key_parts_from_ram(RAMConfig(patch_bits=None))


def test_study_summary_reads_the_best_trial(tmp_path):
    import optuna

    from mbi.inference.bo import summarize, trial_table

    study = optuna.create_study(direction="maximize")
    assert summarize(study.trials) is None
    dist = {k: optuna.distributions.FloatDistribution(1e-2, 1e2, log=True) for k in ("b_over_a", "c_over_a")}
    for value, b, c, attrs in [(0.5, 1.0, 1.0, {"unweighted": True}), (0.7, 2.0, 0.5, {}), (0.7, 4.0, 4.0, {}),
                               (0.6, 1.0, 3.0, {})]:
        study.add_trial(optuna.trial.create_trial(params={"b_over_a": b, "c_over_a": c}, distributions=dist,
                                                  value=value, user_attrs=attrs))
    found = summarize(study.trials)
    assert found.best_number == 1  # ties: the earliest
    assert found.best_weights == pytest.approx((1 / 3.5, 2 / 3.5, 0.5 / 3.5))
    assert found.unweighted_accuracy == 0.5 and found.gain == pytest.approx(0.2) and found.completed == 4
    rows = trial_table(study.trials)
    assert [r["trial"] for r in rows] == [0, 1, 2, 3] and rows[0]["unweighted"] and not rows[1]["unweighted"]
    assert rows[2]["a"] == pytest.approx(1 / 9) and rows[2]["b/a"] == 4.0
