"""The learned vote for lookup-only answers: its features by hand, numpy inference against scikit-learn, the recorded
file, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mbi.cli import main
from mbi.inference.gate import CENSORED_MARGIN, Neighbours
from mbi.inference.lookup import LookupTrace
from mbi.inference.vote import (VOTE_FILE, LearnedVote, choose_c, feature_names, out_of_fold_predictions, read_vote,
                                vote_features, write_vote)
from mbi.memory.lut import LookupTable, table_fingerprint
from mbi.search.distance import KeyLayout

LAYOUT = KeyLayout(patch_len=2, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=3)
TRAIN_LABELS = np.array([2, 2, 1, 0, 3, 1])  # training digit -> class
SOURCE = np.array([0, 1, 2, 3, 4, 5], dtype=np.int32)  # row -> training digit: row classes 2, 2, 1, 0, 3, 1
READOUT = np.array([2, 1, 1, 0, 3, 3], dtype=np.uint8)


def _table() -> LookupTable:
    n = len(SOURCE)
    return LookupTable(keys=np.zeros((n, 6), np.uint8), next_hidden=np.zeros((n, 2), np.uint8),
                       next_loc=np.ones((n, 2), np.uint8), readout=READOUT, step=np.array([0, 0, 0, 1, 1, 1], np.uint8),
                       count=np.ones(n, np.int32), source=SOURCE, layout=LAYOUT, num_glimpses=2, model_hash="hand")


def _case() -> tuple[LookupTrace, Neighbours]:
    """One image, two glimpses, k = 3: step 1's nearest rows 0, 2, 1 at 0.5, 1, 1.5; step 2's 4, 5, 3 at 0, 0.25, 2;
    the lookup answers class 3 (row 4's readout)."""
    rows = np.array([[[0, 2, 1], [4, 5, 3]]])
    distance = np.array([[[0.5, 1.0, 1.5], [0.0, 0.25, 2.0]]])
    trace = LookupTrace(locs=np.zeros((1, 2, 2), np.uint8), rows=rows[:, :, 0], distance=distance[:, :, 0],
                        comparisons=np.ones((1, 2), np.int64), readouts=READOUT[rows[:, :, 0]],
                        queries=np.zeros((1, 2, 6), np.uint8))
    return trace, Neighbours(rows, distance)


def test_features_on_a_hand_built_case():
    trace, nb = _case()
    f = vote_features(trace, nb, _table(), TRAIN_LABELS, classes=4)
    names = feature_names(2, classes=4)
    assert f.shape == (1, 3 * 2 * 4 + 4) == (1, len(names))
    got = dict(zip(names, f[0]))
    # step 1: rows 0, 2, 1 come from digits of classes 2, 1, 2; step 2: rows 4, 5, 3 from classes 3, 1, 0
    assert [got[f"source_share_1_{c}"] for c in range(4)] == pytest.approx([0, 1 / 3, 2 / 3, 0])
    assert [got[f"source_share_2_{c}"] for c in range(4)] == pytest.approx([1 / 3, 1 / 3, 0, 1 / 3])
    # their readouts: 2, 1, 1 and 3, 3, 0
    assert [got[f"readout_share_1_{c}"] for c in range(4)] == pytest.approx([0, 2 / 3, 1 / 3, 0])
    assert [got[f"readout_share_2_{c}"] for c in range(4)] == pytest.approx([1 / 3, 0, 0, 2 / 3])
    assert [got[f"answer_{c}"] for c in range(4)] == [0, 0, 0, 1]
    # nearest row of each class minus the best; a class none of the 3 is of: the 3rd distance + 1, minus the best
    assert CENSORED_MARGIN == 1.0
    assert [got[f"class_gap_1_{c}"] for c in range(4)] == pytest.approx([2.0, 0.5, 0.0, 2.0])
    assert [got[f"class_gap_2_{c}"] for c in range(4)] == pytest.approx([2.0, 0.25, 3.0, 0.0])
    with pytest.raises(ValueError, match="classes 0..2"):
        vote_features(trace, nb, _table(), TRAIN_LABELS, classes=3)
    with pytest.raises(ValueError, match="train_labels"):
        vote_features(trace, nb, _table(), TRAIN_LABELS[:4], classes=4)
    with pytest.raises(ValueError, match="neighbours are for"):
        vote_features(trace, Neighbours(nb.rows[:, :1], nb.distance[:, :1]), _table(), TRAIN_LABELS, classes=4)


def _data(seed: int, n: int = 400, steps: int = 1, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[n, 3 steps classes + classes]`` whose first columns carry the class, plus noise and a constant."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(size=(n, 3 * steps * classes + classes))
    x[np.arange(n), y] += 1.5
    x[:, -1] = 0.25  # a constant column: scale 1
    return x, y


@pytest.mark.parametrize("seed, c", [(0, 0.1), (1, 1.0), (2, 10.0)])
def test_the_numpy_vote_equals_scikit_learns_predict(seed, c):
    from sklearn.linear_model import LogisticRegression

    x, y = _data(seed)
    vote = LearnedVote.fit(x, y, steps=1, k=4, c=c, table="t", weights=(1, 1, 1), classes=3)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    assert vote.scale[-1] == 1.0 and vote.mean[-1] == 0.25
    reference = LogisticRegression(C=c, max_iter=3000).fit((x - mean) / std, y)
    fresh, _ = _data(seed + 100)
    np.testing.assert_array_equal(vote.predict(fresh), reference.predict((fresh - mean) / std))
    np.testing.assert_allclose(vote.scores(fresh), reference.decision_function((fresh - mean) / std), atol=1e-9)
    assert (vote.predict(x) == y).mean() > 0.6  # it learnt the class columns
    assert vote.n_features == 12 and np.asarray(vote.coef).shape == (3, 12)
    with pytest.raises(ValueError, match="12 features"):
        vote.predict(fresh[:, :5])


def test_out_of_fold_predictions_and_the_choice_of_c():
    x, y = _data(3, n=300)
    pred = out_of_fold_predictions(x, y, 1.0, steps=1, classes=3, folds=3, seed=5)
    part = np.random.default_rng(5).permutation(len(x)) % 3
    for f in range(3):  # each fold is answered by a vote fitted on the other two
        held = part == f
        fold = LearnedVote.fit(x[~held], y[~held], steps=1, k=2, c=1.0, table="t", weights=(1, 1, 1), classes=3)
        np.testing.assert_array_equal(pred[held], fold.predict(x[held]))
    best, curve = choose_c(x, y, steps=1, classes=3, grid=(10.0, 1e-4, 1.0), folds=3)
    assert list(curve) == ["0.0001", "1", "10"] and curve["1"] == pytest.approx(np.mean(
        out_of_fold_predictions(x, y, 1.0, steps=1, classes=3, folds=3) == y))
    assert curve[f"{best:g}"] == max(curve.values())
    assert best == min(c for c in (1e-4, 1.0, 10.0) if curve[f"{c:g}"] == max(curve.values()))  # ties: smallest
    with pytest.raises(ValueError, match="every class"):
        LearnedVote.fit(x[y < 2], y[y < 2], steps=1, k=2, c=1.0, table="t", weights=(1, 1, 1), classes=3)
    with pytest.raises(ValueError, match="positive"):
        choose_c(x, y, steps=1, classes=3, grid=(0.0,))


def test_folds_by_digit_keep_a_digit_and_its_shifted_copies_together():
    """Rows that share a digit (a clean digit and its shifted copies) share its fold, the folds of the digits are
    those of :func:`fold_parts`, and out-of-fold answers come from votes fitted on the other digits only."""
    from mbi.inference.vote import fold_parts, row_folds

    assert np.array_equal(row_folds(50, 5, 3), fold_parts(50, 5, 3))  # no digits: a row is a digit
    digits = np.concatenate([np.arange(40), np.arange(10), np.arange(10)])  # 40 digits, copies of the first 10
    part = row_folds(60, 5, 3, digits)
    assert np.array_equal(part, fold_parts(40, 5, 3)[digits])
    assert np.array_equal(part[40:50], part[:10]) and np.array_equal(part[50:], part[:10])
    with pytest.raises(ValueError, match="digit index"):
        row_folds(3, 5, 0, np.array([0, -1, 2]))
    with pytest.raises(ValueError, match="digit index"):
        row_folds(3, 5, 0, np.array([0, 1]))
    x, y = _data(3, n=200)
    rng = np.random.default_rng(1)
    copies = x[:60] + rng.normal(0, 0.3, size=x[:60].shape)  # a noisy copy of each of the first 60 rows
    fx, fy = np.concatenate([x, copies]), np.concatenate([y, y[:60]])
    fd = np.concatenate([np.arange(200), np.arange(60)])
    pred = out_of_fold_predictions(fx, fy, 1.0, steps=1, classes=3, folds=4, seed=2, digits=fd)
    part = fold_parts(200, 4, 2)[fd]
    for f in range(4):
        held = part == f
        fold = LearnedVote.fit(fx[~held], fy[~held], steps=1, k=2, c=1.0, table="t", weights=(1, 1, 1), classes=3)
        np.testing.assert_array_equal(pred[held], fold.predict(fx[held]))
    best, curve = choose_c(fx, fy, steps=1, classes=3, grid=(0.1, 1.0), folds=4, seed=2, digits=fd)
    assert curve["1"] == pytest.approx(np.mean(pred == fy))


def test_a_vote_fitted_on_shifted_digits_too_records_its_accuracy_per_group(tmp_path):
    """``accuracy`` (per group of fitting digits) is recorded and read back; a vote without it writes no such key, so
    the digests of the votes recorded before it existed stay what they were."""
    x, y = _data(4, steps=2, classes=4)
    plain = LearnedVote.fit(x, y, steps=2, k=3, c=0.3, table="t", weights=(1, 1, 1), classes=4, curve={"0.3": 0.9})
    assert "accuracy" not in plain.to_dict()
    both = LearnedVote.fit(x, y, steps=2, k=3, c=0.3, table="t", weights=(1, 1, 1), classes=4, curve={"0.3": 0.9},
                           accuracy={"clean": 0.95, "shift 1 px": 0.85})
    write_vote(tmp_path, both)
    again = read_vote(tmp_path)
    assert again == both and dict(again.accuracy) == {"clean": 0.95, "shift 1 px": 0.85}
    assert again.digest != plain.digest
    from mbi.inference.vote import recipe_votes
    from mbi.memory.recipe import TableRecipe

    write_vote(tmp_path, both, TableRecipe(shifts="1px"))
    assert recipe_votes(tmp_path, ["1px"])[0]["lookup-only + vote (out of fold)"] == "95.00%"  # clean, not pooled
    with pytest.raises(ValueError, match="finite"):
        LearnedVote.fit(x, y, steps=2, k=3, c=0.3, table="t", weights=(1, 1, 1), classes=4,
                        accuracy={"clean": float("nan")})


def test_a_recorded_vote_round_trips_and_a_damaged_or_changed_one_is_refused(tmp_path):
    x, y = _data(4, steps=2, classes=4)
    table = _table()
    vote = LearnedVote.fit(x, y, steps=2, k=3, c=0.3, table=table_fingerprint(table), weights=(1, 0.5, 1), classes=4,
                           fitted_on="val:400", curve={"0.3": 0.9, "1": 0.8})
    assert read_vote(tmp_path) is None
    path = write_vote(tmp_path, vote)
    assert path == tmp_path / VOTE_FILE and read_vote(tmp_path) == vote
    vote.check_table(table, (1, 0.5, 1), k=3)
    with pytest.raises(ValueError, match="fitted on table"):
        vote.check_table(table, (1, 1, 1))
    with pytest.raises(ValueError, match="k=3"):
        vote.check_table(table, (1, 0.5, 1), k=16)
    raw = json.loads(path.read_text())
    changed = {**raw, "coef": [[v + (i == j == 0) for j, v in enumerate(row)] for i, row in enumerate(raw["coef"])]}
    path.write_text(json.dumps(changed))
    with pytest.raises(ValueError, match=r"vote.json is not a recorded learned vote .*digest.*--fit --record"):
        read_vote(tmp_path)
    path.write_text(path.read_text()[:200])  # truncated
    with pytest.raises(ValueError, match="not valid JSON"):
        read_vote(tmp_path)
    short = {k: v for k, v in raw.items() if k not in ("intercept", "digest")}  # shape wrong, digest made to match
    from mbi.inference.vote import _digest
    path.write_text(json.dumps({**short, "intercept": raw["intercept"][:2], "digest": _digest(
        {**short, "intercept": raw["intercept"][:2]})}))
    with pytest.raises(ValueError, match="4 intercepts"):
        read_vote(tmp_path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_vote(tmp_path)


def test_the_vote_command_fits_on_validation_records_and_reports_test(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    base = ["vote", str(checkpoint), "--table", str(table), "--images", "300"]
    assert main(base + ["--split", "test"]) == 2
    assert "no recorded vote" in capsys.readouterr().err
    assert main(base + ["--split", "test", "--fit"]) == 2
    assert main(base + ["--record"]) == 2
    capsys.readouterr()
    assert main(base + ["--fit", "--record", "--k", "4", "--c-grid", "0.1,1", "--json"]) == 0
    val = json.loads(capsys.readouterr().out)
    vote = read_vote(checkpoint)
    assert vote is not None and vote.k == 4 and vote.fitted_on == "val:300" and set(vote.curve) == {"0.1", "1"}
    assert val["c"] == vote.c and val["vote_accuracy"] == max(vote.curve.values())
    assert val["numbers"] == 10 * (3 * 3 * 10 + 10) + 10  # 3 glimpses, 10 classes
    assert main(base + ["--split", "test", "--json"]) == 0
    test = json.loads(capsys.readouterr().out)
    assert test["k"] == 4 and test["vote_scores"] == "fitted on val:300"
    # plain lookup-only: what the lookup command says on the same images
    assert main(["lookup", str(checkpoint), "--table", str(table), "--images", "300", "--split", "test", "--json"]) == 0
    assert test["plain_accuracy"] == json.loads(capsys.readouterr().out)["lookup_accuracy"]
    assert main(base + ["--split", "test", "--perturb", "shift-left-2", "--json"]) == 0  # and on perturbed digits
    shifted = json.loads(capsys.readouterr().out)
    assert shifted["perturbation"] == "shift-left-2" and shifted["plain_accuracy"] != test["plain_accuracy"]
    assert main(["lookup", str(checkpoint), "--table", str(table), "--images", "300", "--split", "test", "--perturb",
                 "shift-left-2", "--json"]) == 0
    assert shifted["plain_accuracy"] == json.loads(capsys.readouterr().out)["lookup_accuracy"]
    assert main(base + ["--split", "test"]) == 0
    assert "with the learned vote" in capsys.readouterr().out
    assert main(base + ["--split", "test", "--weights", "1,0.5,1"]) == 2  # not the weights it was fitted with
    assert "fitted on table" in capsys.readouterr().err
    (checkpoint / VOTE_FILE).write_text("{}")
    assert main(base + ["--split", "test"]) == 2
    assert "is not a recorded learned vote" in capsys.readouterr().err
    (checkpoint / VOTE_FILE).unlink()


def test_the_vote_command_learns_from_shifted_digits_too(checkpoint, tmp_path, capsys, monkeypatch):
    """``--fit-shifts 1px`` adds the first ``--fit-shifted-images`` digits moved by 1 px in 4 directions to the fitting
    rows: the recorded vote says so, its per-group out-of-fold accuracies pool to the curve's value at its C, and its
    plain answers on clean digits are the plain vote command's."""
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    base = ["vote", str(checkpoint), "--table", str(table), "--images", "200", "--k", "4", "--c-grid", "0.1,1"]
    capsys.readouterr()
    assert main(base + ["--fit-shifts", "1px"]) == 2  # without --fit
    assert "use it with --fit" in capsys.readouterr().err
    assert main(base + ["--fit", "--fit-shifts", "1px", "--perturb", "shift-up-1"]) == 2
    assert "leave out --perturb" in capsys.readouterr().err
    assert main(base + ["--fit", "--fit-shifts", "1px", "--fit-shifted-images", "0"]) == 2
    assert main(base + ["--fit", "--json"]) == 0
    clean_only = json.loads(capsys.readouterr().out)
    try:
        assert main(base + ["--fit", "--fit-shifts", "1px", "--fit-shifted-images", "50", "--record", "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        vote = read_vote(checkpoint)
        assert vote.fitted_on == res["fitted_on"] == "val:200 + val:50 shifted by 1 px in 4 directions"
        assert set(vote.accuracy) == {"clean", "shift 1 px"} and res["vote_accuracy"] == vote.accuracy["clean"]
        assert res["shifted_vote_accuracy"] == {"shift 1 px": vote.accuracy["shift 1 px"]}
        pooled = (200 * vote.accuracy["clean"] + 4 * 50 * vote.accuracy["shift 1 px"]) / 400
        assert vote.curve[f"{vote.c:g}"] == pytest.approx(pooled)
        assert res["plain_accuracy"] == clean_only["plain_accuracy"]
        assert main(base[:6] + ["--split", "test", "--json"]) == 0  # the recorded vote answers test digits
        assert json.loads(capsys.readouterr().out)["vote_scores"] == f"fitted on {vote.fitted_on}"
    finally:
        (checkpoint / VOTE_FILE).unlink(missing_ok=True)


def test_one_recorded_vote_per_table_recipe(checkpoint, tmp_path, capsys, monkeypatch):
    """A vote fitted on the table with shifted replays (--table-shifts 1px) is recorded as vote-shift1px.json, beside
    (not over) the paper's table's vote.json, and only that table's commands read it."""
    from mbi.inference.vote import vote_file
    from mbi.memory.recipe import TableRecipe

    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    shifted = TableRecipe(shifts="1px")
    assert vote_file() == VOTE_FILE == "vote.json" and vote_file(shifted) == "vote-shift1px.json"
    base = ["vote", str(checkpoint), "--images", "300"]
    try:
        assert main(base + ["--table-shifts", "1px", "--fit", "--record", "--k", "4", "--c-grid", "1", "--json"]) == 0
        fitted = json.loads(capsys.readouterr().out)
        assert read_vote(checkpoint) is None and not (checkpoint / VOTE_FILE).exists()
        vote = read_vote(checkpoint, shifted)
        assert vote is not None and vote.k == 4 and vote.curve == {"1": fitted["vote_accuracy"]}
        assert main(base + ["--split", "test", "--table-shifts", "1px", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["vote_scores"] == "fitted on val:300"
        assert main(base + ["--split", "test"]) == 2  # the paper's table has none recorded
        assert "no recorded vote for this table (vote.json)" in capsys.readouterr().err
        assert main(base + ["--split", "test", "--table-shifts", "2px"]) == 2
        err = capsys.readouterr().err
        assert "vote-shift2px.json" in err and "--table-shifts 2px" in err
    finally:
        (checkpoint / vote_file(shifted)).unlink(missing_ok=True)


def test_recipe_votes_lists_each_recorded_vote_and_says_which_is_damaged(tmp_path):
    """The Table size page's rows: one per recipe with a recorded vote (its file, images, C and out-of-fold accuracy
    at that C), nothing for a recipe without one, and a damaged file named instead of ending the page."""
    from mbi.inference.vote import recipe_votes
    from mbi.memory.recipe import TableRecipe

    x, y = _data(4, steps=2, classes=4)
    vote = LearnedVote.fit(x, y, steps=2, k=3, c=0.3, table="t", weights=(1, 1, 1), classes=4, fitted_on="val:400",
                           curve={"0.3": 0.9712, "1": 0.8})
    write_vote(tmp_path, vote, TableRecipe(shifts="1px"))
    (tmp_path / "vote-shift2px.json").write_text("{}")
    rows = recipe_votes(tmp_path, ["none", "1px", "2px"])
    assert [r["table (shifts)"] for r in rows] == ["1px", "2px"]
    assert rows[0] == {"table (shifts)": "1px", "vote": "vote-shift1px.json", "fitted on": "val:400", "C": "0.3",
                       "lookup-only + vote (out of fold)": "97.12%"}
    assert rows[1]["lookup-only + vote (out of fold)"].startswith("not readable: ") and "vote-shift2px.json" in \
        rows[1]["lookup-only + vote (out of fold)"]
    assert recipe_votes(tmp_path, ["1px"], TableRecipe(readout="label")) == []  # another readout: another table
