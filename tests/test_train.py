"""Training: it learns, it resumes exactly, checkpoints load safely, the CLI reports errors clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mbi.model.checkpoint import load_model, model_hash
from mbi.cli import main
from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.model.predict import accuracy
from mbi.model.train import train

SMALL = RAMConfig(num_glimpses=3, hidden_size=64, glimpse_hidden=64, loc_hidden=32, glimpse_size=64, state_size=32)


def _cfg(epochs: int, **kw) -> RunConfig:
    return RunConfig(SMALL, TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, num_threads=1, **kw))


def test_one_epoch_beats_chance(small_mnist, tmp_path):
    events = list(train(_cfg(1), tmp_path, data=small_mnist))
    assert [e.kind for e in events][0] == "start" and events[-1].kind == "done"
    epoch = [e for e in events if e.kind == "epoch"][0]
    # chance is 10% (binomial sd 1.3 points on 500 images); one seeded epoch over 3,000 digits
    # through a 1-bit hidden state lands at about 34%
    assert epoch.val_acc > 0.25
    model = load_model(tmp_path)
    assert accuracy(model, small_mnist.val_x, small_mnist.val_y) == pytest.approx(epoch.val_acc)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_done"] == 1 and metrics["best_val_acc"] == pytest.approx(epoch.val_acc)


def test_resume_continues_from_saved_epoch_and_matches_unbroken_run(small_mnist, tmp_path):
    unbroken = tmp_path / "unbroken"
    list(train(_cfg(2, train_limit=600), unbroken, data=small_mnist))

    broken = tmp_path / "broken"
    gen = train(_cfg(2, train_limit=600), broken, data=small_mnist)
    for ev in gen:
        if ev.kind == "epoch":
            gen.close()  # the user pressed stop after the first epoch
            break
    assert json.loads((broken / "metrics.json").read_text())["epochs_done"] == 1

    events = list(train(_cfg(2, train_limit=600), broken, data=small_mnist))
    assert events[0].kind == "start" and events[0].epoch == 1
    assert [e.epoch for e in events if e.kind == "epoch"] == [2]
    a = torch.load(unbroken / "last.pt", weights_only=True)["model"]
    b = torch.load(broken / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("metrics_left", ["missing", "one epoch behind"])
def test_run_killed_before_its_metrics_were_written_resumes_like_an_unbroken_run(small_mnist, tmp_path,
                                                                                 metrics_left):
    """A kill after an epoch's last.pt but before its metrics.json (the last write) is an interruption,
    not damage: the run resumes from last.pt and ends as an unbroken run does."""
    unbroken = tmp_path / "unbroken"
    list(train(_cfg(3, train_limit=300), unbroken, data=small_mnist))

    broken = tmp_path / "broken"
    gen = train(_cfg(3, train_limit=300), broken, data=small_mnist)
    kept = None
    for ev in gen:
        if ev.kind == "epoch" and ev.epoch == 1:
            kept = (broken / "metrics.json").read_bytes()
        if ev.kind == "epoch" and ev.epoch == 2:
            gen.close()
            break
    if metrics_left == "missing":
        (broken / "metrics.json").unlink()
    else:
        (broken / "metrics.json").write_bytes(kept)  # epoch 2's last.pt is on disk, its metrics.json is not

    events = list(train(_cfg(3, train_limit=300), broken, data=small_mnist))
    assert events[0].epoch == 2 and [e.epoch for e in events if e.kind == "epoch"] == [3]
    a, b = (json.loads((run / "metrics.json").read_text()) for run in (unbroken, broken))
    drop = lambda history: [{k: v for k, v in h.items() if k != "elapsed_s"} for h in history]  # noqa: E731
    assert drop(a["history"]) == drop(b["history"]) and a["best_epoch"] == b["best_epoch"]
    wa, wb = (torch.load(run / "model.pt", weights_only=True) for run in (unbroken, broken))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_refuses_other_architecture(small_mnist, tmp_path):
    list(train(_cfg(1, train_limit=200), tmp_path, data=small_mnist))
    other = RunConfig(RAMConfig(num_glimpses=2, hidden_size=64, state_size=32), TrainConfig(epochs=2, num_threads=1))
    with pytest.raises(ValueError, match="different architecture"):
        next(iter(train(other, tmp_path, data=small_mnist)))


def test_corrupt_checkpoint_gives_clear_error(small_mnist, tmp_path):
    list(train(_cfg(1, train_limit=200), tmp_path, data=small_mnist))
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be loaded"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        load_model(tmp_path / "nowhere")


def test_default_model_ships_and_loads():
    model = load_model("default")
    assert model.cfg.hidden_bits == 1 and model.cfg.patch_bits == 2
    assert len(model_hash("default")) == 16
    ep = model(torch.rand(2, 28, 28))
    assert ep.logits.shape == (2, 10)


def test_cli_rejects_bad_values_with_one_line(capsys, tmp_path):
    code = main(["train", "--out", str(tmp_path), "--num-glimpses", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "num_glimpses" in err and "Traceback" not in err


def test_cli_evaluate_default_model_json(capsys):
    assert main(["evaluate", "default", "--split", "val", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["split"] == "val" and 0.9 < out["accuracy_quantized"] <= 1.0
    assert np.isfinite(out["accuracy_quantizers_bypassed"])
