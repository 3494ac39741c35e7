"""Mixed MBI's fused fallback: the log-softmax and the fused answer by hand, beta chosen against a plain reference,
nested grading, the recorded entry, and the gate command end to end (beta 0 is the RAM's fallback, a huge beta the
vote's answers)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from mbi.cli import main
from mbi.inference.fallback import (BETAS, FusedFallback, choose_beta, fused_answers, log_softmax,
                                    nested_fused_answers)
from mbi.model.checkpoint import LookupSettings, RecordedGates


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 5)),
              elements=st.floats(-50, 50, allow_nan=False)))
def test_log_softmax_is_the_log_of_normalized_exponentials(z):
    got = log_softmax(z)
    naive = np.log(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got, naive, atol=1e-9)
    np.testing.assert_allclose(np.exp(got).sum(axis=1), 1.0, atol=1e-12)


def test_log_softmax_refuses_what_is_not_class_scores():
    with pytest.raises(ValueError, match="classes >= 2"):
        log_softmax(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="classes >= 2"):
        log_softmax(np.zeros(3))


def test_the_fused_answer_on_a_hand_computed_case():
    """RAM 0.8 / 0.2, vote 0.3 / 0.7: the RAM's class wins while beta < log 4 / log (7/3) = 1.636, the vote's above."""
    ram = np.log([[0.8, 0.2]])
    vote = np.log([[0.3, 0.7]]) + 5.0  # scores are logits: a constant shift changes nothing
    flip = math.log(4) / math.log(7 / 3)
    assert fused_answers(ram, vote, 0.0)[0] == 0 and fused_answers(ram, vote, 0.25)[0] == 0
    assert fused_answers(ram, vote, flip - 1e-6)[0] == 0 and fused_answers(ram, vote, flip + 1e-6)[0] == 1
    assert fused_answers(ram, vote, 4.0)[0] == 1
    with pytest.raises(ValueError, match="beta"):
        fused_answers(ram, vote, -1.0)
    with pytest.raises(ValueError, match="one shape"):
        fused_answers(ram, np.zeros((1, 3)), 1.0)


def _case(seed: int, n: int = 200, classes: int = 4):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    ram = rng.normal(0, 1, (n, classes)) + 2.0 * np.eye(classes)[labels] * (rng.random(n) < 0.8)[:, None]
    vote = rng.normal(0, 1, (n, classes)) + 2.0 * np.eye(classes)[labels] * (rng.random(n) < 0.7)[:, None]
    lookup = np.where(rng.random(n) < 0.85, labels, rng.integers(0, classes, n))
    score = rng.random(n) + 0.5 * (lookup != labels)
    return score, lookup, ram, vote, labels


def _mixed_reference(score, lookup, fallback, labels, share):
    """Answer the ceil(share * n) lowest scores by lookup, the rest by the fallback (scores are distinct here)."""
    order = np.argsort(score)
    m = math.ceil(share * len(score) - 1e-9)
    answer = fallback.copy()
    answer[order[:m]] = lookup[order[:m]]
    return float(np.mean(answer == labels))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_choose_beta_against_a_plain_reference(seed):
    score, lookup, ram, vote, labels = _case(seed)
    beta, curve = choose_beta(score, lookup, ram, vote, labels)
    assert list(curve) == [f"{b:g}" for b in sorted(BETAS)]
    for b in BETAS:
        fused = (log_softmax(ram) + b * log_softmax(vote)).argmax(1)
        assert curve[f"{b:g}"] == pytest.approx(_mixed_reference(score, lookup, fused, labels, 0.8))
    best = max(curve.values())
    assert curve[f"{beta:g}"] == best
    assert abs(math.log(beta)) == min(abs(math.log(b)) for b in BETAS if curve[f"{b:g}"] == best)  # ties: nearest 1


def test_nested_answers_use_the_beta_chosen_on_the_other_folds():
    score, lookup, ram, vote, labels = _case(3, n=300)
    parts = np.arange(300) % 3
    answers, picked = nested_fused_answers(score, lookup, ram, vote, labels, parts, betas=(0.1, 1.0, 10.0))
    assert len(picked) == 3
    for f, beta in enumerate(picked):
        rest = parts != f
        assert beta == choose_beta(score[rest], lookup[rest], ram[rest], vote[rest], labels[rest],
                                   betas=(0.1, 1.0, 10.0))[0]
        np.testing.assert_array_equal(answers[~rest], fused_answers(ram[~rest], vote[~rest], beta))


def test_a_recorded_fallback_round_trips_through_lookup_json_and_bad_ones_are_refused(tmp_path):
    fb = FusedFallback(0.25, "abc123", fitted_on="val:300", curve={"0.25": 0.98, "1": 0.97})
    assert FusedFallback.from_dict(fb.to_dict()) == fb
    settings_ = LookupSettings(fallback=fb.to_dict())
    settings_.write(tmp_path)
    back = LookupSettings.read(tmp_path)
    assert back.gates.fallback == fb.to_dict() and FusedFallback.from_dict(dict(back.fallback)) == fb
    assert RecordedGates.from_json(RecordedGates(fallback=fb.to_dict()).to_json(), "x").fallback == fb.to_dict()
    with pytest.raises(ValueError, match="'fallback' must be a JSON object"):
        RecordedGates.from_json({"fallback": [1]}, "lookup.json")
    fb.check_vote("abc123")
    with pytest.raises(ValueError, match="fitted for vote abc123.*--fallback fused --fit --record"):
        fb.check_vote("other")
    for bad in ({**fb.to_dict(), "beta": -1}, {**fb.to_dict(), "beta": float("nan")}, {**fb.to_dict(), "kind": "ram"},
                {**fb.to_dict(), "extra": 1}, {k: v for k, v in fb.to_dict().items() if k != "vote"},
                {**fb.to_dict(), "share": 2}, "fused"):
        with pytest.raises(ValueError, match="is not a fused fallback"):
            FusedFallback.from_dict(bad)


def test_class_logits_are_what_predict_takes_the_argmax_of(checkpoint):
    from mbi.model.checkpoint import Checkpoint
    from mbi.model.predict import class_logits, predict

    ckpt = Checkpoint.of(checkpoint)
    x = ckpt.data().split("test")[0][:50]
    logits = class_logits(ckpt.model, x, batch_size=16)
    assert logits.shape == (50, 10) and logits.dtype == np.float32
    np.testing.assert_array_equal(logits.argmax(1), predict(ckpt.model, x))


def test_the_gate_command_with_the_fused_fallback(checkpoint, tmp_path, capsys, monkeypatch):
    """--fallback fused: refused without a vote or a recorded fallback; fitted and recorded beside the gate (which is
    left as it was); on test, beta 0 gives exactly the RAM fallback's report and a huge beta the vote's answers."""
    monkeypatch.setenv("MBI_HOME", str(tmp_path))
    table = tmp_path / "t.npz"
    assert main(["distill", str(checkpoint), "--rows", "600", "--out", str(table)]) == 0
    common = [str(checkpoint), "--table", str(table), "--images", "300"]
    gate = ["gate", *common, "--k", "4", "--json"]
    capsys.readouterr()
    assert main(gate + ["--fit", "--record"]) == 0
    assert main(gate + ["--fallback", "fused", "--fit"]) == 2
    assert "has none recorded for this table" in capsys.readouterr().err
    assert main(["vote", *common, "--fit", "--record", "--k", "4", "--c-grid", "0.1,1"]) == 0
    assert main(gate + ["--fallback", "fused", "--split", "test"]) == 2
    assert "no fused fallback recorded" in capsys.readouterr().err
    before = json.loads((checkpoint / "lookup.json").read_text())
    assert main(gate + ["--fallback", "fused", "--fit", "--record"]) == 0
    val = json.loads(capsys.readouterr().out)
    after = json.loads((checkpoint / "lookup.json").read_text())
    assert {k: v for k, v in after.items() if k != "fallback"} == before  # the gate and thresholds as they were
    fb = FusedFallback.from_dict(after["fallback"])
    assert val["fallback"] == "fused" and val["fused"]["beta"] == fb.beta and fb.fitted_on == "val:300"
    assert fb.vote == json.loads((checkpoint / "vote.json").read_text())["digest"]
    assert main(gate + ["--split", "test"]) == 0
    ram = json.loads(capsys.readouterr().out)
    assert main(["vote", *common, "--split", "test", "--json"]) == 0
    vote_test = json.loads(capsys.readouterr().out)
    for beta, check in ((0.0, "ram"), (1e6, "vote")):
        (checkpoint / "lookup.json").write_text(json.dumps({**after, "fallback": {**after["fallback"], "beta": beta}}))
        assert main(gate + ["--fallback", "fused", "--split", "test"]) == 0
        fused = json.loads(capsys.readouterr().out)
        if check == "ram":  # beta 0: the RAM's own classes, every number of the plain report
            assert fused["fallback_accuracy"] == ram["ram_accuracy"] == ram["fallback_accuracy"]
            assert fused["gates"] == ram["gates"]
        else:  # the vote dominates: the fallback answers are the vote's
            assert fused["fallback_accuracy"] == vote_test["vote_accuracy"]
    assert main(["vote", *common, "--fit", "--record", "--k", "4", "--c-grid", "3"]) == 0  # another vote
    capsys.readouterr()
    assert main(gate + ["--fallback", "fused", "--split", "test"]) == 2
    assert "fitted for vote" in capsys.readouterr().err
    (checkpoint / "vote.json").unlink()
    (checkpoint / "lookup.json").write_text(json.dumps(before))
