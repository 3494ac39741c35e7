"""Mixed MBI with the learned vote's answers: the predictions against a plain reference, the nested out-of-fold
grading, the gate tied to its vote, the command end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mbi.cli import main
from mbi.inference.gate import VOTE_FEATURE, LearnedGate, gate_features, gated_predictions, step_neighbours
from mbi.inference.lookup import LookupTrace
from mbi.inference.vote import LearnedVote, out_of_fold_predictions, read_vote, vote_features
from mbi.inference.votegate import (VOTE_GATE, fit_vote_gate, nested_scores, recorded_vote_gate, vote_gate_features,
                                    vote_gate_names, voted)
from mbi.memory.lut import LookupTable
from mbi.model.checkpoint import LookupSettings
from mbi.search.distance import KeyLayout

LAYOUT = KeyLayout(patch_len=2, patch_levels=4, hidden_len=2, hidden_levels=2, loc_levels=3)
CLASSES = 4


def _case(seed: int, b: int, k: int = 3):
    """A random table of 60 rows over 2 glimpse steps, ``b`` query images, their exact trace and ``k`` neighbours."""
    rng = np.random.default_rng(seed)
    n = 60
    keys = np.concatenate([rng.integers(0, 4, (n, 2)), rng.integers(0, 2, (n, 2)), rng.integers(0, 3, (n, 2))], 1)
    train_labels = rng.integers(0, CLASSES, 20)
    table = LookupTable(keys=keys.astype(np.uint8), next_hidden=np.zeros((n, 2), np.uint8),
                        next_loc=np.zeros((n, 2), np.uint8), readout=rng.integers(0, CLASSES, n).astype(np.uint8),
                        step=(np.arange(n) % 2).astype(np.uint8), count=rng.integers(1, 5, n).astype(np.int32),
                        source=rng.integers(0, 20, n).astype(np.int32), layout=LAYOUT, num_glimpses=2, model_hash="r")
    q = np.concatenate([rng.integers(0, 4, (b, 2, 2)), rng.integers(0, 2, (b, 2, 2)), rng.integers(0, 3, (b, 2, 2))],
                       2).astype(np.uint8)
    nb = step_neighbours(table, (1, 1, 1), q, k=k)
    trace = LookupTrace(locs=np.zeros((b, 2, 2), np.uint8), rows=nb.rows[:, :, 0], distance=nb.distance[:, :, 0],
                        comparisons=np.ones((b, 2), np.int64), readouts=table.readout[nb.rows[:, :, 0]], queries=q)
    return rng, table, train_labels, trace, nb


def _vote(rng: np.random.Generator, n_features: int, c: float = 1.0) -> LearnedVote:
    """A vote over 2 steps and :data:`CLASSES` classes with random numbers."""
    return LearnedVote(2, CLASSES, 3, tuple(rng.normal(0, 0.3, n_features)), tuple(rng.uniform(0.5, 2, n_features)),
                       tuple(tuple(row) for row in rng.normal(0, 1, (CLASSES, n_features))),
                       tuple(rng.normal(0, 0.5, CLASSES)), c, "r", (1.0, 1.0, 1.0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_with_the_vote_equals_a_plain_reference(seed):
    """Voted answers, the vote's margin, the gate's score of voted answers and the mixed classes, image by image."""
    rng, table, train_labels, trace, nb = _case(seed, 15)
    vf = vote_features(trace, nb, table, train_labels, classes=CLASSES)
    vote = _vote(rng, vf.shape[1])
    names = vote_gate_names(2)
    gate = LearnedGate(tuple(names), 3, tuple(rng.normal(0, 0.3, len(names))), tuple(rng.uniform(0.5, 2, len(names))),
                       tuple(rng.normal(0, 1, len(names))), 0.2, answers="vote", vote=vote.digest)
    ram = rng.integers(0, CLASSES, 15)
    threshold = 0.5
    answer, score = voted(vote, trace, nb, table, train_labels, gate)
    assert np.array_equal(voted(vote, trace, nb, table, train_labels)[0], answer)
    assert np.allclose(score, gate.score(vote_gate_features(trace, nb, table, train_labels, vote.scores(vf), names)))
    mixed, by_lookup = gated_predictions(score, answer, ram, threshold)
    for i in range(15):
        logits = [sum((vf[i, j] - vote.mean[j]) / vote.scale[j] * vote.coef[c][j] for j in range(vf.shape[1]))
                  + vote.intercept[c] for c in range(CLASSES)]
        want = max(range(CLASSES), key=lambda c: (logits[c], -c))
        p = sorted(math.exp(z) / sum(math.exp(v) for v in logits) for z in logits)
        # the gate's features of the voted answer: the plain features of a trace whose last readout is that answer
        readouts = trace.readouts.copy()
        readouts[i, -1] = want
        as_if = LookupTrace(trace.locs, trace.rows, trace.distance, trace.comparisons, readouts, trace.queries)
        x = list(gate_features(as_if, nb, table, train_labels)[i]) + [p[-1] - p[-2]]
        z = sum((x[j] - gate.mean[j]) / gate.scale[j] * gate.coef[j] for j in range(len(x))) + gate.intercept
        want_score = 1 / (1 + math.exp(-z))
        assert answer[i] == want and score[i] == pytest.approx(want_score)
        assert by_lookup[i] == (want_score <= threshold)
        assert mixed[i] == (want if want_score <= threshold else ram[i])


def test_nested_grading_answers_like_the_out_of_fold_vote_and_the_gate_is_tied_to_its_vote():
    rng, table, train_labels, trace, nb = _case(3, 240)
    y = rng.integers(0, CLASSES, 240)
    y[:60] = trace.prediction[:60]  # some signal for the gate: a quarter of the plain answers are right by design
    vf = vote_features(trace, nb, table, train_labels, classes=CLASSES)
    vote = _vote(rng, vf.shape[1], c=0.5)
    names = vote_gate_names(2)
    answer, score = nested_scores(vote, vf, trace, nb, table, train_labels, y, names)
    assert np.array_equal(answer, out_of_fold_predictions(vf, y, 0.5, steps=2, classes=CLASSES))
    assert score.shape == (240,) and ((0 <= score) & (score <= 1)).all()
    gate, x, oof = fit_vote_gate(vote, vf, trace, nb, table, train_labels, y, names, fitted_on="val:240")
    assert np.array_equal(oof.argmax(axis=1), answer)  # the same folds (seed 0) as the outer ones
    assert gate.answers == "vote" and gate.vote == vote.digest and list(gate.features) == names
    assert x.shape == (240, len(names)) and names[-1] == VOTE_FEATURE
    # recorded in lookup.json and read back, tied to this vote
    settings = LookupSettings.from_json(json.loads(json.dumps(LookupSettings(vote_gate=gate.to_dict()).to_json())))
    assert recorded_vote_gate(settings.vote_gate, vote) == gate
    other = _vote(rng, vf.shape[1])
    with pytest.raises(ValueError, match="fitted for vote"):
        recorded_vote_gate(gate.to_dict(), other)
    plain = LearnedGate.fit(x[:, :-1], answer != y, names[:-1], 3)
    with pytest.raises(ValueError, match="grades plain lookup answers"):
        recorded_vote_gate(plain.to_dict(), vote)
    with pytest.raises(ValueError, match="no gate of voted answers"):
        recorded_vote_gate(None, vote)
    with pytest.raises(ValueError, match="only a gate of voted answers"):
        LearnedGate.from_dict({**gate.to_dict(), "answers": "plain", "vote": ""})
    with pytest.raises(ValueError, match="digest of its vote"):
        LearnedGate.from_dict({**gate.to_dict(), "vote": ""})
    with pytest.raises(ValueError, match="needs the learned vote's margins"):
        gate_features(trace, nb, table, train_labels, names)


def test_the_gate_command_with_voted_answers(checkpoint, tmp_path, capsys, monkeypatch):
    """--answers vote: the voted lookup-only accuracy is the vote command's, the gate of voted answers is recorded
    beside the plain one (which is left as it was), and a vote fitted again makes it stale."""
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    common = [str(checkpoint), "--table", str(table), "--images", "300"]
    gate = ["gate", *common, "--json"]
    capsys.readouterr()
    assert main(gate + ["--answers", "vote"]) == 2  # no gate, no vote yet
    assert "no learned gate" in capsys.readouterr().err
    assert main(gate + ["--fit", "--record", "--k", "4"]) == 0
    plain_val = json.loads(capsys.readouterr().out)
    assert main(gate + ["--answers", "vote"]) == 2
    assert "no recorded vote" in capsys.readouterr().err
    assert main(["vote", *common, "--fit", "--record", "--k", "4", "--c-grid", "0.1,1"]) == 0
    capsys.readouterr()
    before = json.loads((checkpoint / "lookup.json").read_text())
    # no gate of voted answers recorded yet: the distance and plain gates grade the voted answers
    assert main(gate + ["--answers", "vote", "--split", "test"]) == 0
    assert set(json.loads(capsys.readouterr().out)["gates"]) == {"distance", "learned"}
    assert main(gate + ["--answers", "vote", "--fit", "--record"]) == 2  # --fit looks at k = 16 unless told
    assert "looks at k=4 neighbours, not 16" in capsys.readouterr().err
    assert main(gate + ["--answers", "vote", "--fit", "--record", "--k", "4"]) == 0
    val = json.loads(capsys.readouterr().out)
    assert set(val["gates"]) == {"distance", "learned", VOTE_GATE} and val["answers"] == "vote"
    after = json.loads((checkpoint / "lookup.json").read_text())
    assert after["gate"] == before["gate"]  # the plain gate is left as it was
    assert {g: v for g, v in after["gate_thresholds"].items() if g != VOTE_GATE} == before["gate_thresholds"]
    vote = read_vote(checkpoint)
    assert val["lookup_accuracy"] == vote.curve[f"{vote.c:g}"]  # voted answers out of fold, the vote's own folds
    assert val["ram_accuracy"] == plain_val["ram_accuracy"]
    assert recorded_vote_gate(after["vote_gate"], vote).fitted_on == "val:300"
    assert sorted(after["gate_thresholds"][VOTE_GATE]) == ["0.8", "0.9"]
    # on test: the voted lookup-only accuracy is the vote command's; the plain report is unchanged
    assert main(gate + ["--answers", "vote", "--split", "test"]) == 0
    test = json.loads(capsys.readouterr().out)
    assert main(["vote", *common, "--split", "test", "--json"]) == 0
    assert test["lookup_accuracy"] == json.loads(capsys.readouterr().out)["vote_accuracy"]
    row = test["gates"][VOTE_GATE]["at_share"][0]
    assert row["share"] == 0.8 and row["threshold"] == after["gate_thresholds"][VOTE_GATE]["0.8"]
    assert main(gate + ["--split", "test"]) == 0
    plain_test = json.loads(capsys.readouterr().out)
    assert set(plain_test["gates"]) == {"distance", "learned"} and plain_test["answers"] == "plain"
    assert main(["gate", *common, "--answers", "vote", "--split", "test"]) == 0
    assert "lookup answer (voted answers) is wrong" in capsys.readouterr().out
    # the vote fitted again: the recorded gate of voted answers is another vote's
    assert main(["vote", *common, "--fit", "--record", "--k", "4", "--c-grid", "3"]) == 0
    capsys.readouterr()
    assert main(gate + ["--answers", "vote", "--split", "test"]) == 2
    assert "fitted for vote" in capsys.readouterr().err
    (checkpoint / "lookup.json").unlink()
    (checkpoint / "vote.json").unlink()
