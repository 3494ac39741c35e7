"""Background training: one run at a time, stop keeps finished epochs, runs are found on disk, limits hold."""

from __future__ import annotations

import json
import time

import pytest

from mbi.model.checkpoint import load_model
from mbi.config import RAMConfig, RunConfig, TrainConfig
from mbi.runs.jobs import HOSTED_LIMITS, BusyError, Limits, TrainingManager, limits_from_env, list_runs, read_run

TINY = RAMConfig(num_glimpses=2, hidden_size=32, glimpse_hidden=16, loc_hidden=16, glimpse_size=32, state_size=16)


def _cfg(epochs: int = 1, train_limit: int = 256) -> RunConfig:
    return RunConfig(TINY, TrainConfig(epochs=epochs, batch_size=32, num_threads=1, train_limit=train_limit,
                                       val_limit=128))


def _wait(job, state_pred, poll: float = 0.02):
    """Poll until ``state_pred(view)`` holds (no wall-clock limit: a stuck worker shows up as a hung test)."""
    while True:
        view = job.view()
        if state_pred(view):
            return view
        time.sleep(poll)


@pytest.fixture()
def manager(tmp_path, small_mnist):
    return TrainingManager(tmp_path, limits=Limits(), data_loader=lambda name: small_mnist, log_every=1)


def test_run_finishes_keeps_events_and_files(manager, tmp_path):
    job = manager.start(_cfg(epochs=2), name="my first run!")
    job.join()
    view = job.view()
    assert view.state == "done" and view.error is None and view.progress == 1.0
    kinds = [e.kind for e in view.events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("epoch") == 2 and "batch" in kinds
    batch_pts, epoch_pts = view.curves()
    assert len(epoch_pts) == 2 and all(p["val_acc"] is not None for p in epoch_pts)
    assert batch_pts and batch_pts[0]["x"] < 1.0
    assert view.run_dir.parent == tmp_path / "runs" / "app" and "my-first-run" in view.run_dir.name
    meta = json.loads((view.run_dir / "job.json").read_text())
    assert meta["state"] == "done" and meta["name"] == "my first run!" and meta["best_val_acc"] > 0
    load_model(view.run_dir)  # the best weights load as a model
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == [view.run_dir] and runs[0].name == "my first run!"
    assert len(runs[0].history) == 2 and runs[0].has_model
    assert manager.active() is None and manager.get(job.id) is job


def test_one_run_at_a_time_and_stop_keeps_finished_epochs(manager, small_mnist):
    job = manager.start(_cfg(epochs=50, train_limit=2000), name="long")
    with pytest.raises(BusyError, match="only one runs at a time"):
        manager.start(_cfg(), name="second")
    _wait(job, lambda v: any(e.kind == "epoch" for e in v.events))
    job.stop()
    view = _wait(job, lambda v: not v.active)
    job.join()
    assert view.state == "stopped"
    epochs_seen = [e.epoch for e in view.events if e.kind == "epoch"]
    assert 1 <= len(epochs_seen) < 50
    metrics = json.loads((view.run_dir / "metrics.json").read_text())
    assert metrics["epochs_done"] >= 1
    assert read_run(view.run_dir).state == "stopped"
    # the server is free again
    second = manager.start(_cfg(), name="second")
    second.join()
    assert second.view().state == "done"


def test_failure_is_recorded_not_raised(tmp_path):
    def broken_loader(name):
        raise FileNotFoundError("MNIST not found (test)")

    manager = TrainingManager(tmp_path, limits=Limits(), data_loader=broken_loader)
    job = manager.start(_cfg())
    job.join()
    view = job.view()
    assert view.state == "failed" and "MNIST not found" in view.error
    assert json.loads((view.run_dir / "job.json").read_text())["state"] == "failed"
    assert manager.active() is None


def test_limits_are_checked_before_starting(tmp_path):
    manager = TrainingManager(tmp_path, limits=HOSTED_LIMITS, data_loader=lambda name: None)
    with pytest.raises(ValueError, match="epochs is limited to 3 on this hosted server"):
        manager.start(_cfg(epochs=4))
    with pytest.raises(ValueError, match="training images are limited to 5,000"):
        manager.start(RunConfig(TINY, TrainConfig(epochs=1)))
    with pytest.raises(ValueError, match="hidden_size is limited to 256"):
        manager.start(RunConfig(RAMConfig(hidden_size=512), TrainConfig(epochs=1, train_limit=100, val_limit=100)))
    assert manager.active() is None and not (tmp_path / "runs").exists()


def test_limits_from_env():
    assert limits_from_env({}) == Limits()
    assert limits_from_env({"MBI_HOSTED": "1"}) == HOSTED_LIMITS
    custom = limits_from_env({"MBI_HOSTED": "yes", "MBI_MAX_EPOCHS": "5", "MBI_MAX_TRAIN_IMAGES": "1000"})
    assert custom.hosted and custom.max_epochs == 5 and custom.max_train_images == 1000
    with pytest.raises(ValueError, match="MBI_MAX_EPOCHS must be a positive integer"):
        limits_from_env({"MBI_MAX_EPOCHS": "many"})


def test_list_runs_skips_unreadable_folders(tmp_path):
    (tmp_path / "runs" / "app" / "broken").mkdir(parents=True)
    (tmp_path / "runs" / "app" / "broken" / "config.json").write_text("{not json")
    assert list_runs(tmp_path) == []
    assert list_runs(tmp_path / "nowhere") == []


def test_hosted_server_keeps_only_the_newest_runs(tmp_path, small_mnist):
    manager = TrainingManager(tmp_path, limits=Limits(max_runs=2), data_loader=lambda name: small_mnist)
    folders = []
    for i in range(3):
        job = manager.start(_cfg(train_limit=64), name=f"run {i}")
        job.join()
        folders.append(job.view().run_dir)
    left = sorted(p.name for p in (tmp_path / "runs" / "app").iterdir())
    assert left == sorted(f.name for f in folders[1:])
    assert limits_from_env({"MBI_HOSTED": "1"}).max_runs == 20
    assert limits_from_env({"MBI_MAX_RUNS": "5"}).max_runs == 5 and limits_from_env({}).max_runs is None
