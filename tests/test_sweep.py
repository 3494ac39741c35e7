"""Sweeps: spec validation, resumability, and several processes sharing one journal study."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

from mbi.runs.studies import ITEM_ATTR, enqueue_missing, item_key, open_storage, reclaim_stale
from mbi.runs.sweep import SweepSpec, open_study, results_table, run_sweep

TINY = {
    "name": "tiny",
    "mode": "one-at-a-time",
    "base": {"ram": {"num_glimpses": 2, "hidden_size": 16, "state_size": 8, "glimpse_hidden": 8, "loc_hidden": 8,
                     "glimpse_size": 16},
             "train": {"epochs": 1, "train_limit": 64, "val_limit": 32, "num_threads": 1, "batch_size": 32}},
    "axes": {"num_glimpses": [1, 2, 3], "patch_bits": [1, "none"]},
}


def test_spec_validation_messages():
    with pytest.raises(ValueError, match="unknown sweep axis 'glimpses'"):
        SweepSpec.from_dict({**TINY, "axes": {"glimpses": [1]}})
    with pytest.raises(ValueError, match="mode"):
        SweepSpec.from_dict({**TINY, "mode": "random"})
    with pytest.raises(ValueError, match="name"):
        SweepSpec.from_dict({**TINY, "name": "a b/c"})
    spec = SweepSpec.from_dict(TINY)
    assert len(spec.items()) == 5
    assert spec.config_for({"ram.patch_bits": None}).ram.patch_bits is None
    grid = SweepSpec.from_dict({**TINY, "mode": "grid"})
    assert len(grid.items()) == 6


def test_shipped_specs_are_valid():
    for path in sorted(Path("mbi/specs").glob("fig3*.json")):
        spec = SweepSpec.load(path)
        for item in spec.items():
            assert item  # every item decodes into a config (invalid ones would fail the trial, not the sweep)


def _worker(root: str) -> None:
    run_sweep(SweepSpec.from_dict(TINY), None, Path(root))


def test_two_processes_share_one_journal_without_loss_or_repeat(tmp_path):
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(tmp_path),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0
    spec = SweepSpec.from_dict(TINY)
    study = open_study(spec, None, tmp_path)
    complete = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    counts = Counter(t.user_attrs[ITEM_ATTR] for t in complete)
    assert sorted(counts) == sorted(item_key(i) for i in spec.items())
    assert set(counts.values()) == {1}
    # both processes did work (each trial records the run folder it trained in)
    table = results_table(spec, study)
    assert len(table) == 5 and (table["state"] == "COMPLETE").all()


def test_interrupted_sweep_resumes_without_repeating(tmp_path):
    spec = SweepSpec.from_dict(TINY)
    run_sweep(spec, None, tmp_path, max_items=2)
    first = {t.number: t.datetime_complete for t in open_study(spec, None, tmp_path).get_trials()
             if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(first) == 2
    study = run_sweep(spec, None, tmp_path)
    complete = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 5
    for t in complete:
        if t.number in first:
            assert t.datetime_complete == first[t.number]  # untouched


def test_stale_running_trial_is_reclaimed_and_requeued(tmp_path):
    storage = open_storage(None, tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=storage)
    enqueue_missing(study, [{"x": "a"}])
    trial = study.ask()  # a worker took it ...
    trial.set_user_attr("heartbeat", time.time() - 3600)  # ... and died an hour ago
    assert reclaim_stale(study, grace_s=60) == [trial.number]
    assert enqueue_missing(study, [{"x": "a"}]) == 1
    waiting = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.WAITING]
    assert len(waiting) == 1 and json.loads(waiting[0].user_attrs["item_params"]) == {"x": "a"}


def test_plain_postgresql_url_uses_psycopg2(monkeypatch):
    seen = {}

    def fake_rdb(url, **kwargs):
        seen["url"] = url
        return object()

    monkeypatch.setattr("mbi.runs.studies.RDBStorage", fake_rdb)
    open_storage("postgresql://u:p@localhost/db", "unused.journal")
    assert seen["url"] == "postgresql+psycopg2://u:p@localhost/db"


def test_an_item_whose_training_already_finished_reports_its_accuracy(tmp_path):
    """A worker killed after the last epoch but before recording: the re-run item resumes a finished run."""
    spec = SweepSpec.from_dict(TINY)
    first = run_sweep(spec, str(tmp_path / "a.journal"), tmp_path, max_items=1)
    (done,) = [t for t in first.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    # a second study over the same run folders: the training is not repeated, its accuracy is reported
    second = run_sweep(spec, str(tmp_path / "b.journal"), tmp_path, max_items=1)
    (again,) = [t for t in second.get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    assert again.user_attrs[ITEM_ATTR] == done.user_attrs[ITEM_ATTR]
    metrics = json.loads((Path(again.user_attrs["run_dir"]) / "metrics.json").read_text())
    assert again.value == done.value == metrics["best_val_acc"] > 0
