"""The learned mixed-MBI gate: k-nearest search, its features on a hand-built table, fitting, curves, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mbi.cli import main
from mbi.inference.gate import (CENSORED_MARGIN, STEP_FEATURES, GatePoint, LearnedGate, Neighbours, accuracy_at_share,
                                error_auc, feature_names, gate_curve, gate_features, gated_predictions, known_features,
                                largest_share, location_agreement, out_of_fold_scores, step_neighbours)
from mbi.inference.lookup import LookupTrace
from mbi.memory.lut import LookupTable
from mbi.runs.gatecache import DEFAULT_SHARES, recorded_shares
from mbi.search.distance import KeyLayout, distances_reference

LAYOUT = KeyLayout(patch_len=2, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=3)
# step 0: four rows; step 1: three rows. Columns [p0 p1 | h0 h1 | row col].
KEYS = np.array([
    [0, 0, 0, 0, 1, 1],   # row 0, step 0
    [1, 0, 0, 0, 1, 1],   # row 1, step 0: distance 1/3 from query A
    [0, 1, 0, 0, 1, 1],   # row 2, step 0: also 1/3 (a tie: row 1 comes first)
    [3, 3, 1, 1, 0, 0],   # row 3, step 0: far
    [2, 2, 1, 0, 1, 1],   # row 4, step 1
    [2, 2, 1, 1, 1, 1],   # row 5, step 1
    [0, 0, 0, 1, 2, 2],   # row 6, step 1
], dtype=np.uint8)
STEP = np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.uint8)
READOUT = np.array([7, 7, 3, 1, 5, 5, 2], dtype=np.uint8)
SOURCE = np.array([0, 1, 2, 3, 0, 4, 2], dtype=np.int32)  # training digits
TRAIN_LABELS = np.array([5, 5, 3, 1, 6])


def _table(count: np.ndarray | None = None) -> LookupTable:
    n = len(KEYS)
    return LookupTable(keys=KEYS, next_hidden=np.zeros((n, 2), np.uint8), next_loc=np.ones((n, 2), np.uint8),
                       readout=READOUT, step=STEP, count=np.ones(n, np.int32) if count is None else count,
                       source=SOURCE, layout=LAYOUT, num_glimpses=2, model_hash="hand")


QUERIES = np.array([[[0, 0, 0, 0, 1, 1], [2, 2, 1, 0, 1, 1]],      # image A: exact matches at both steps
                    [[3, 3, 1, 1, 1, 1], [0, 0, 0, 0, 2, 2]]], dtype=np.uint8)  # image B


def test_neighbours_on_a_hand_built_table():
    nb = step_neighbours(_table(), (1, 1, 1), QUERIES, k=3)
    assert nb.rows[0, 0].tolist() == [0, 1, 2]  # the tie 1/3 vs 1/3 goes to the lower row
    assert nb.distance[0, 0].tolist() == pytest.approx([0, 1 / 3, 1 / 3])
    assert nb.rows[0, 1].tolist() == [4, 5, 6] and nb.distance[0, 1].tolist() == pytest.approx([0, 1 / 3, 8 / 3])
    # image B step 0: row 3 differs only in location (2 units), rows 0..2 are far
    assert nb.rows[1, 0, 0] == 3 and nb.distance[1, 0, 0] == pytest.approx(2 / 3)
    assert nb.rows[1, 1, 0] == 6 and nb.distance[1, 1, 0] == pytest.approx(1 / 3)


def test_neighbours_with_fewer_rows_than_k_repeat_the_farthest():
    nb = step_neighbours(_table(), (1, 1, 1), QUERIES, k=5)
    assert nb.rows[0, 1].tolist() == [4, 5, 6, 6, 6]


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 6), st.sampled_from([(1, 1, 1), (0.5, 0.2, 0.3), (1, 0, 2)]))
def test_neighbours_equal_a_plain_sort_of_the_reference_distances(seed, k, weights):
    rng = np.random.default_rng(seed)
    n = 90
    keys = np.concatenate([rng.integers(0, 4, (n, 2)), rng.integers(0, 2, (n, 2)), rng.integers(0, 3, (n, 2))], 1)
    table = LookupTable(keys=keys.astype(np.uint8), next_hidden=np.zeros((n, 2), np.uint8),
                        next_loc=np.zeros((n, 2), np.uint8), readout=np.zeros(n, np.uint8),
                        step=(np.arange(n) % 2).astype(np.uint8), count=np.ones(n, np.int32),
                        source=np.zeros(n, np.int32), layout=LAYOUT, num_glimpses=2, model_hash="r")
    q = keys[rng.integers(0, n, 140)].reshape(70, 2, 6).astype(np.uint8)
    nb = step_neighbours(table, weights, q, k=k)
    for t in range(2):
        rows = table.rows_of_step(t)
        d = distances_reference(q[:, t], keys[rows], LAYOUT, weights)
        order = np.lexsort((np.broadcast_to(np.arange(len(rows)), d.shape), d), axis=1)[:, :k]
        assert np.array_equal(nb.rows[:, t], rows[order])
        assert np.array_equal(nb.distance[:, t], np.take_along_axis(d, order, axis=1))


def _trace(rows: np.ndarray, distance: np.ndarray) -> LookupTrace:
    b, t = rows.shape
    return LookupTrace(locs=np.zeros((b, t, 2), np.uint8), rows=rows, distance=distance,
                       comparisons=np.ones((b, t), np.int64), readouts=READOUT[rows], queries=QUERIES[:b])


def test_features_on_a_hand_built_table():
    table = _table()
    nb = step_neighbours(table, (1, 1, 1), QUERIES, k=3)
    trace = _trace(nb.rows[:, :, 0], nb.distance[:, :, 0])
    f = gate_features(trace, nb, table, TRAIN_LABELS)
    names = feature_names(2)
    assert f.shape == (2, len(names)) == (2, 2 * len(STEP_FEATURES))
    assert known_features(2)[-2:] == ["readout_agree_last", "vote_margin"]
    a = dict(zip(names, f[0]))
    # image A answers class 5 (row 4's readout)
    assert a["distance_1"] == 0 and a["distance_2"] == 0
    assert a["margin_1"] == pytest.approx(1 / 3) and a["margin_2"] == pytest.approx(1 / 3)
    # step 1 neighbours 0, 1, 2 come from digits 0, 1, 2 of classes 5, 5, 3: two of three agree with 5
    assert a["source_agree_1"] == pytest.approx(2 / 3)
    # step 2 neighbours 4, 5, 6 come from digits 0, 4, 2 of classes 5, 6, 3
    assert a["source_agree_2"] == pytest.approx(1 / 3)
    # their readouts 5, 5, 2; step 1's (rows 0, 1, 2) 7, 7, 3: none is 5
    assert a["readout_agree_2"] == pytest.approx(2 / 3) and a["readout_agree_1"] == 0
    # readout margins: the nearest row with another readout than 5 (step 1: row 0 itself; step 2: row 6 at 8/3)
    assert a["readout_margin_1"] == 0 and a["readout_margin_2"] == pytest.approx(8 / 3)
    # location agreement: step 1 rows at A's location (1, 1) are 0, 1, 2 (classes 5, 5, 3); step 2's rows 4, 5 (5, 6)
    assert a["location_agree_1"] == pytest.approx(2 / 3) and a["location_agree_2"] == pytest.approx(1 / 2)
    # class margins: the nearest row from another class's digit, minus the best (row 2, class 3; row 5, class 6)
    assert a["class_margin_1"] == pytest.approx(1 / 3) and a["class_margin_2"] == pytest.approx(1 / 3)
    b = dict(zip(names, f[1]))  # image B answers class 2 (row 6)
    assert b["distance_1"] == pytest.approx(2 / 3) and b["readout_agree_2"] == pytest.approx(1 / 3)
    assert b["location_agree_1"] == 0 and b["location_agree_2"] == 0  # no digit of class 2 at (1, 1) or (2, 2)
    # no step-1 neighbour of B comes from a digit of class 2: its nearest other row is its nearest row
    assert b["source_agree_1"] == 0 and b["class_margin_1"] == 0
    # the last step's readout agreement under the name gates recorded before the per-step readout features used
    last = gate_features(trace, nb, table, TRAIN_LABELS, ["readout_agree_last"])
    np.testing.assert_array_equal(last[:, 0], f[:, names.index("readout_agree_2")])
    # rows weighted by their hit counts: row 2 (class 3) memorized 3 glimpses, so A's step 1 is 2 of 5
    heavy = _table(np.array([1, 1, 3, 1, 1, 1, 1], np.int32))
    assert location_agreement(trace, heavy, TRAIN_LABELS)[0, 0] == pytest.approx(2 / 5)
    # a subset of the features, in any order, is the same columns
    sub = gate_features(trace, nb, table, TRAIN_LABELS, ["location_agree_2", "class_margin_2", "distance_1"])
    np.testing.assert_array_equal(sub, f[:, [names.index(n) for n in ("location_agree_2", "class_margin_2",
                                                                      "distance_1")]])
    with pytest.raises(ValueError, match="train_labels"):
        gate_features(trace, nb, table, TRAIN_LABELS[:3])
    with pytest.raises(ValueError, match="unknown gate features"):
        gate_features(trace, nb, table, TRAIN_LABELS, ["distance_3"])


def test_the_class_margin_is_censored_when_every_neighbour_agrees():
    table = _table()
    # image A at step 1: rows 0 and 1 (digits of class 5) at 0.5 and 1.25; the answer is class 5 (row 4)
    nb = Neighbours(np.array([[[0, 1], [4, 5]]]), np.array([[[0.5, 1.25], [0.0, 0.75]]]))
    trace = _trace(nb.rows[:, :, 0], nb.distance[:, :, 0])
    a = dict(zip(feature_names(2), gate_features(trace, nb, table, TRAIN_LABELS)[0]))
    assert a["source_agree_1"] == 1 and a["class_margin_1"] == pytest.approx(1.25 + CENSORED_MARGIN - 0.5)
    assert a["class_margin_2"] == pytest.approx(0.75)  # row 5 comes from digit 4, of class 6
    assert a["readout_agree_2"] == 1 and a["readout_margin_2"] == pytest.approx(0.75 + CENSORED_MARGIN)  # readouts 5, 5


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(2, 5))
def test_the_features_equal_a_plain_loop_over_images_steps_and_rows(seed, k):
    """Every column of :func:`gate_features` recomputed image by image from the table's arrays, and a recorded
    gate's score recomputed from its JSON numbers."""
    rng = np.random.default_rng(seed)
    n, b, classes = 60, 12, 4
    keys = np.concatenate([rng.integers(0, 4, (n, 2)), rng.integers(0, 2, (n, 2)), rng.integers(0, 3, (n, 2))], 1)
    source, train_labels = rng.integers(0, 20, n).astype(np.int32), rng.integers(0, classes, 20)
    table = LookupTable(keys=keys.astype(np.uint8), next_hidden=np.zeros((n, 2), np.uint8),
                        next_loc=np.zeros((n, 2), np.uint8), readout=rng.integers(0, classes, n).astype(np.uint8),
                        step=(np.arange(n) % 2).astype(np.uint8), count=rng.integers(1, 5, n).astype(np.int32),
                        source=source, layout=LAYOUT, num_glimpses=2, model_hash="r")
    q = np.concatenate([rng.integers(0, 4, (b, 2, 2)), rng.integers(0, 2, (b, 2, 2)), rng.integers(0, 3, (b, 2, 2))],
                       2).astype(np.uint8)
    nb = step_neighbours(table, (1, 1, 1), q, k=k)
    trace = LookupTrace(locs=np.zeros((b, 2, 2), np.uint8), rows=nb.rows[:, :, 0], distance=nb.distance[:, :, 0],
                        comparisons=np.ones((b, 2), np.int64), readouts=table.readout[nb.rows[:, :, 0]], queries=q)
    names = feature_names(2)
    f = gate_features(trace, nb, table, train_labels)
    other = rng.integers(0, classes, b)  # any other answers, e.g. the learned vote's
    for features, answers in ((f, trace.readouts[:, -1]), (gate_features(trace, nb, table, train_labels, answer=other),
                                                           other)):
        _check_features(features, answers, names, trace, nb, table, train_labels, q, k)
    wrong = np.arange(b) % 3 == 0
    gate = LearnedGate.from_dict(json.loads(json.dumps(LearnedGate.fit(f, wrong, names, k).to_dict())))
    for i in range(b):
        z = sum((f[i, j] - gate.mean[j]) / gate.scale[j] * gate.coef[j] for j in range(len(names))) + gate.intercept
        assert gate.score(f)[i] == pytest.approx(1 / (1 + np.exp(-z)))


def _check_features(f: np.ndarray, answers: np.ndarray, names: list[str], trace: LookupTrace, nb: Neighbours,
                    table: LookupTable, train_labels: np.ndarray, q: np.ndarray, k: int) -> None:
    """Each of ``f``'s columns (``[B, F]``, ``names``) recomputed image by image against the classes ``answers``."""
    keys, source = table.keys, table.source
    for i in range(len(f)):
        answer = int(answers[i])
        for t in range(2):
            rows, d = nb.rows[i, t].tolist(), nb.distance[i, t].tolist()
            cls = [int(train_labels[source[r]]) for r in rows]
            out = [d[j] for j in range(k) if cls[j] != answer]
            rout = [d[j] for j in range(k) if table.readout[rows[j]] != answer]
            at = [r for r in table.rows_of_step(t) if (keys[r, 4:] == q[i, t, 4:]).all()]
            here = sum(int(table.count[r]) for r in at)
            mine = sum(int(table.count[r]) for r in at if train_labels[source[r]] == answer)
            want = {"distance": d[0], "margin": d[1] - d[0], "source_agree": cls.count(answer) / k,
                    "class_margin": (out[0] if out else d[-1] + CENSORED_MARGIN) - d[0],
                    "readout_agree": sum(table.readout[r] == answer for r in rows) / k,
                    "readout_margin": (rout[0] if rout else d[-1] + CENSORED_MARGIN) - d[0],
                    "location_agree": mine / here if here else 0.0}
            for kind, value in want.items():
                assert f[i, names.index(f"{kind}_{t + 1}")] == pytest.approx(value), (kind, i, t)


def test_a_recorded_gate_round_trips_through_lookup_json_and_a_corrupt_one_is_refused(tmp_path):
    from mbi.model.checkpoint import LookupSettings

    rng = np.random.default_rng(1)
    names = feature_names(4)
    wrong = rng.random(300) < 0.2
    gate = LearnedGate.fit(rng.normal(size=(300, len(names))) + wrong[:, None], wrong, names, 16, fitted_on="val:300")
    LookupSettings(gate=gate.to_dict(), gate_thresholds={"learned": {"0.8": 0.3}}).write(tmp_path)
    back = LookupSettings.read(tmp_path)
    assert LearnedGate.from_dict(back.gate) == gate and back.gate_thresholds == {"learned": {"0.8": 0.3}}
    good = gate.to_dict()
    for bad, says in [({**good, "features": [*names[:-1], "location_agree_0"]}, "location_agree_0"),
                      ({**good, "features": [*names[:-1], "pixels_1"]}, "pixels_1"),
                      ({**good, "features": [*names[:-1], names[0]]}, "distinct"),
                      ({**good, "coef": good["coef"][:-1]}, "one mean, scale and coefficient"),
                      ({**good, "scale": [0.0] * len(names)}, "scales > 0"),
                      ({**good, "intercept": "nan"}, "finite"),
                      ({k: v for k, v in good.items() if k != "mean"}, "mean")]:
        with pytest.raises(ValueError, match="malformed") as err:
            LearnedGate.from_dict(bad)
        assert says in str(err.value) and "--fit" in str(err.value)


def test_a_fitted_gate_separates_what_its_features_separate_and_reads_back():
    rng = np.random.default_rng(0)
    wrong = rng.random(400) < 0.2
    x = np.stack([rng.normal(size=400) + 2.5 * wrong, rng.normal(size=400)], axis=1)
    gate = LearnedGate.fit(x, wrong, ["distance_1", "margin_1"], k=4, fitted_on="synthetic")
    score = gate.score(x)
    assert error_auc(score, wrong) > 0.9 and abs(gate.coef[0]) > 5 * abs(gate.coef[1])
    back = LearnedGate.from_dict(json.loads(json.dumps(gate.to_dict())))
    assert back == gate and np.array_equal(back.score(x), score)
    from sklearn.linear_model import LogisticRegression

    ref = LogisticRegression(class_weight="balanced", max_iter=2000).fit((x - x.mean(0)) / x.std(0), wrong)
    assert np.allclose(score, ref.predict_proba((x - x.mean(0)) / x.std(0))[:, 1], atol=1e-6)
    oof = out_of_fold_scores(x, wrong, ["distance_1", "margin_1"], 4)
    assert 0.85 < error_auc(oof, wrong) <= error_auc(score, wrong) + 0.02
    with pytest.raises(ValueError, match="malformed"):
        LearnedGate.from_dict({"features": ["a"], "k": 4})
    with pytest.raises(ValueError, match="both right and wrong"):
        LearnedGate.fit(x, np.zeros(400, bool), ["distance_1", "margin_1"], 4)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_the_gate_curve_equals_thresholding_image_by_image(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    score = rng.integers(0, 6, n).astype(float)  # many ties, like the distance gate
    labels = rng.integers(0, 3, n)
    lookup, ram = rng.integers(0, 3, n), rng.integers(0, 3, n)
    points = gate_curve(score, lookup, ram, labels)
    assert points[0].lookup_share == 0 and points[0].accuracy == pytest.approx(np.mean(ram == labels))
    for p in points[1:]:
        pred, mask = gated_predictions(score, lookup, ram, p.threshold)
        assert p.lookup_share == pytest.approx(mask.mean()) and p.accuracy == pytest.approx(np.mean(pred == labels))
    assert points[-1].lookup_share == 1.0
    assert [p.lookup_share for p in points] == sorted(p.lookup_share for p in points)
    half = accuracy_at_share(points, 0.5)
    assert half.lookup_share >= 0.5 and all(p.lookup_share < 0.5 for p in points if p.lookup_share < half.lookup_share)


def test_largest_share_is_the_last_whole_percent_at_the_accuracy():
    points = [GatePoint(0.0, 0.0, 0.90), GatePoint(0.1, 0.5, 0.91), GatePoint(0.2, 0.7308, 0.865),
              GatePoint(0.3, 0.8, 0.86), GatePoint(0.4, 1.0, 0.80)]
    assert largest_share(points, 0.865) == 0.73  # 73.08% rounded down to a whole percent
    assert largest_share(points, 0.80) == 1.0 and largest_share(points, 0.905) == 0.5
    with pytest.raises(ValueError, match="no share"):
        largest_share(points, 0.95)


def test_auc_of_a_perfect_and_a_backwards_score():
    wrong = np.array([0, 0, 1, 1], bool)
    assert error_auc(np.array([0.1, 0.2, 0.8, 0.9]), wrong) == 1.0
    assert error_auc(np.array([0.9, 0.8, 0.2, 0.1]), wrong) == 0.0


def test_neighbour_errors():
    with pytest.raises(ValueError, match="k must be"):
        step_neighbours(_table(), (1, 1, 1), QUERIES, k=1)
    with pytest.raises(ValueError, match="queries must be"):
        step_neighbours(_table(), (1, 1, 1), QUERIES[:, :1], k=2)
    nb = Neighbours(np.zeros((1, 2, 3), np.int64), np.zeros((1, 2, 3)))
    assert nb.k == 3


def test_the_gate_command_fits_on_validation_and_reports_test(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    base = ["gate", str(checkpoint), "--table", str(table), "--images", "120", "--weights", "1,0.5,1", "--k", "4"]
    assert main(base + ["--split", "test"]) == 2
    assert "no learned gate" in capsys.readouterr().err
    assert main(base + ["--split", "test", "--fit"]) == 2
    capsys.readouterr()
    assert main(base + ["--fit", "--record", "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    settings_ = json.loads((checkpoint / "lookup.json").read_text())
    assert LearnedGate.from_dict(settings_["gate"]).k == 4 and set(settings_["gate_thresholds"]) == {"distance", "learned"}
    assert 0 <= val["gates"]["learned"]["auc"] <= 1 and val["gates"]["distance"]["curve"][-1]["lookup_share"] == 1.0
    assert main(base + ["--split", "test", "--json"]) == 0
    test = json.loads(capsys.readouterr().out)
    row = test["gates"]["distance"]["at_share"][0]
    assert row["share"] == 0.8 and row["threshold"] == settings_["gate_thresholds"]["distance"]["0.8"]
    assert main(base + ["--split", "test"]) == 0
    assert "ROC AUC" in capsys.readouterr().out
    assert main(base[:-2] + ["--split", "test", "--json"]) == 0  # without --k: the recorded gate's k
    assert json.loads(capsys.readouterr().out)["gates"] == test["gates"]
    assert main(base[:-2] + ["--split", "test", "--k", "5"]) == 2
    assert "looks at k=4" in capsys.readouterr().err
    other = tmp_path / "other.npz"  # another table: the recorded gate was not fitted on its lookups
    assert main(["distill", str(checkpoint), "--rows", "500", "--out", str(other)]) == 0
    assert main([*base[:3], str(other), *base[4:], "--split", "test"]) == 2
    assert f"fitted on table {settings_['gate']['table']}" in capsys.readouterr().err
    # Another recipe's table has no gate of its own yet: the one in lookup.json is not applied to it.
    assert main(["gate", str(checkpoint), "--table-shifts", "1px", "--images", "120", "--split", "test"]) == 2
    assert "--table-shifts 1px --fit --record" in capsys.readouterr().err
    (checkpoint / "lookup.json").unlink()


def test_each_table_recipe_records_its_own_gates(checkpoint):
    """The gates of the checkpoint's own table live in lookup.json, another recipe's in its gate file; recording one
    leaves the other as it was, and a damaged gate file is refused with its name."""
    from mbi.memory.recipe import TableRecipe
    from mbi.model.checkpoint import Checkpoint, RecordedGates, gate_file

    ckpt = Checkpoint(checkpoint)
    own, shifted = ckpt.lookup.table, TableRecipe(shifts="1px")
    rng = np.random.default_rng(2)
    names = feature_names(2)
    wrong = rng.random(200) < 0.3
    fit = lambda table: LearnedGate.fit(rng.normal(size=(200, len(names))) + wrong[:, None], wrong, names, 4,  # noqa
                                        table=table)
    mine, theirs = fit("aaaa"), fit("bbbb")
    assert ckpt.gates(shifted) == RecordedGates() and gate_file(shifted) == "gate-shift1px.json"
    ckpt.save_gates(RecordedGates(mine.to_dict(), {"learned": {"0.8": 0.25}}))
    path = ckpt.save_gates(RecordedGates(theirs.to_dict(), {"learned": {"0.8": 0.5}}), shifted)
    assert path == checkpoint / "gate-shift1px.json"
    fresh = Checkpoint(checkpoint)
    assert LearnedGate.from_dict(dict(fresh.gates().gate)) == mine == LearnedGate.from_dict(dict(fresh.lookup.gate))
    assert fresh.gates(own) == fresh.gates()
    assert LearnedGate.from_dict(dict(fresh.gates(shifted).gate)) == theirs
    assert fresh.gates(shifted).gate_thresholds == {"learned": {"0.8": 0.5}}
    path.write_text('{"gate": [1, 2]}')
    with pytest.raises(ValueError, match="gate-shift1px.json: 'gate' must be a JSON object"):
        Checkpoint(checkpoint).gates(shifted)
    path.write_text('{"weights": [1, 1, 1]}')
    with pytest.raises(ValueError, match="entries among"):
        Checkpoint(checkpoint).gates(shifted)
    path.unlink()
    (checkpoint / "lookup.json").unlink()


def test_a_gate_refuses_the_lookups_of_a_table_it_was_not_fitted_on():
    table = _table()
    names = feature_names(2)
    rng = np.random.default_rng(3)
    wrong = rng.random(100) < 0.3
    x = rng.normal(size=(100, len(names))) + wrong[:, None]
    from mbi.memory.lut import table_fingerprint

    gate = LearnedGate.fit(x, wrong, names, 4, table=table_fingerprint(table))
    gate.check_table(table)
    assert LearnedGate.from_dict(gate.to_dict()) == gate
    with pytest.raises(ValueError, match="not on this table"):
        LearnedGate.fit(x, wrong, names, 4, table="0123456789abcdef").check_table(table)
    LearnedGate.fit(x, wrong, names, 4).check_table(table)  # recorded before the table was kept: taken as its own


def test_gate_shares_are_chosen_recorded_and_reported(checkpoint, tmp_path, capsys, monkeypatch):
    """--shares picks the shares whose thresholds --fit records; later reports default to the recorded shares."""
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    base = ["gate", str(checkpoint), "--table", str(table), "--images", "120", "--k", "4", "--json"]
    capsys.readouterr()
    assert main(base + ["--fit", "--record", "--shares", "0.7,0.75"]) == 0
    fitted = json.loads(capsys.readouterr().out)
    recorded = json.loads((checkpoint / "lookup.json").read_text())["gate_thresholds"]
    assert {g: sorted(v) for g, v in recorded.items()} == {"distance": ["0.7", "0.75"], "learned": ["0.7", "0.75"]}
    assert [r["share"] for r in fitted["gates"]["learned"]["at_share"]] == [0.7, 0.75]
    assert recorded_shares(recorded) == (0.7, 0.75) and recorded_shares({}) == DEFAULT_SHARES
    assert main(base + ["--split", "test"]) == 0
    test = json.loads(capsys.readouterr().out)
    for gate in ("distance", "learned"):
        rows = test["gates"][gate]["at_share"]
        assert [r["share"] for r in rows] == [0.7, 0.75]
        assert [r["threshold"] for r in rows] == [recorded[gate]["0.7"], recorded[gate]["0.75"]]
    assert main(base + ["--split", "test", "--shares", "0.9"]) == 0
    assert "threshold" not in json.loads(capsys.readouterr().out)["gates"]["learned"]["at_share"][0]  # none recorded
    assert main(base + ["--fit", "--min-accuracy", "0.01", "--shares", "0.7"]) == 0  # every share is >= 1% right
    assert [r["share"] for r in json.loads(capsys.readouterr().out)["gates"]["learned"]["at_share"]] == [0.7, 1.0]
    assert main(base + ["--split", "test", "--min-accuracy", "0.5"]) == 2
    assert "use it with --fit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(base + ["--fit", "--shares", "0,0.5"])
    assert "(0, 1]" in capsys.readouterr().err
    (checkpoint / "lookup.json").unlink()


def test_neighbours_reuse_an_exact_index_of_the_same_table():
    from mbi.inference.lookup import StepIndex

    table = _table()
    fractions = []
    nb = step_neighbours(table, (1, 1, 1), QUERIES, k=3, index=StepIndex(table, (1, 1, 1)), progress=fractions.append)
    assert np.array_equal(nb.rows, step_neighbours(table, (1, 1, 1), QUERIES, k=3).rows)
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    with pytest.raises(ValueError, match="StepIndex of this table"):
        step_neighbours(table, (1, 1, 1), QUERIES, k=3, index=StepIndex(table, (1, 2, 1)))
