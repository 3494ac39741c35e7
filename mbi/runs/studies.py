"""Optuna storage shared by sweeps, metric searches and reproductions.

A study lives in a journal file by default (safe for several processes on one
machine: Optuna's journal backend appends under a file lock) or in any RDB URL
(``postgresql://...``, ``sqlite:///...``) when many machines work together.
Work items are *enqueued* trials; a worker pops them with ``study.ask()``,
which is atomic in both kinds of storage, so no item is run twice. A worker
killed mid-trial leaves a RUNNING trial whose heartbeat (a user attribute
refreshed as the trial makes progress) goes stale; :func:`reclaim_stale`
marks it failed and :func:`enqueue_missing` queues its parameters again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, Trial, TrialState

HEARTBEAT_ATTR = "heartbeat"
ITEM_ATTR = "item"
PARAMS_ATTR = "item_params"
DEFAULT_GRACE_S = 900.0

optuna.logging.set_verbosity(optuna.logging.WARNING)


def open_storage(url: str | Path | None, default_journal: str | Path) -> BaseStorage:
    """Storage for ``url``: an RDB URL (``scheme://...``), else a journal file path (default ``default_journal``).

    A plain ``postgresql://`` URL is served by psycopg2, the driver in requirements.txt.
    """
    target = str(url) if url else str(default_journal)
    if target.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy's bare postgresql:// means psycopg 3; we ship psycopg2 (psycopg2-binary)
        target = "postgresql+psycopg2://" + target.split("://", 1)[1]
    if "://" in target:
        try:
            return RDBStorage(target, engine_kwargs={"pool_pre_ping": True} if not target.startswith("sqlite") else None)
        except Exception as exc:  # sqlalchemy raises many kinds for a bad URL or an unreachable server
            raise ValueError(f"cannot open storage {target!r}: {type(exc).__name__}: {str(exc)[:200]}") from exc
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the journal is replayed here: a damaged file fails now, with Optuna's many kinds of errors
        return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
    except Exception as exc:
        raise ValueError(f"{path} is not a readable Optuna journal ({type(exc).__name__}); it is damaged: move it "
                         "aside (nothing in it is deleted) and run again to start a fresh study") from exc


def load_or_create(storage: BaseStorage, name: str, **kwargs: Any) -> optuna.Study:
    """``optuna.create_study(..., load_if_exists=True)``, with one ValueError naming the journal when its
    records are damaged (Optuna then raises KeyError, UnicodeDecodeError or JSON errors)."""
    try:
        return optuna.create_study(study_name=name, storage=storage, load_if_exists=True, **kwargs)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        path = getattr(getattr(storage, "_backend", None), "_file_path", None)
        if path is None:
            raise
        raise ValueError(f"{path} is not a readable Optuna journal ({type(exc).__name__}); it is damaged: move it "
                         "aside (nothing in it is deleted) and run again to start a fresh study") from exc


@contextlib.contextmanager
def storage_lock(storage: BaseStorage, study_name: str) -> Iterator[None]:
    """Exclusive lock for enqueueing: a lock file beside a journal; a no-op for RDB storages.

    Two processes enqueueing the same study at once could queue an item twice;
    :func:`run_worker` drops such duplicates anyway by checking the item key.
    """
    backend = getattr(storage, "_backend", None)
    path = getattr(backend, "_file_path", None)
    if path is None:
        yield
        return
    lock_path = Path(f"{path}.{study_name}.enqueue.lock")
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def reclaim_stale(study: optuna.Study, grace_s: float = DEFAULT_GRACE_S) -> list[int]:
    """Mark RUNNING trials whose heartbeat is older than ``grace_s`` seconds as FAIL; return their numbers."""
    now = time.time()
    reclaimed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        beat = trial.user_attrs.get(HEARTBEAT_ATTR, trial.datetime_start.timestamp() if trial.datetime_start else now)
        if now - float(beat) > grace_s:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            reclaimed.append(trial.number)
    return reclaimed


def item_key(params: dict[str, Any]) -> str:
    """Stable text key of a work item's parameters."""
    return ";".join(f"{k}={params[k]!r}" for k in sorted(params))


def enqueue_missing(study: optuna.Study, items: list[dict[str, Any]], grace_s: float = DEFAULT_GRACE_S) -> int:
    """Enqueue every item not already WAITING, RUNNING or COMPLETE (after reclaiming stale trials).

    Items are dicts of Optuna parameters (plain str/int/float values). Returns how many were queued.
    """
    with storage_lock(study._storage, study.study_name):
        reclaim_stale(study, grace_s)
        live = {TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE}
        present = {t.user_attrs.get(ITEM_ATTR) for t in study.get_trials(deepcopy=False) if t.state in live}
        queued = 0
        for item in items:
            key = item_key(item)
            if key not in present:
                study.enqueue_trial(item, user_attrs={ITEM_ATTR: key, PARAMS_ATTR: json.dumps(item)})
                present.add(key)
                queued += 1
        return queued


def item_params(trial: Trial | FrozenTrial) -> dict[str, Any]:
    """The parameters a queued trial was enqueued with."""
    return json.loads(trial.user_attrs[PARAMS_ATTR])


def heartbeat(trial: Trial) -> None:
    """Record that ``trial`` is still being worked on."""
    trial.set_user_attr(HEARTBEAT_ATTR, time.time())


def run_worker(
    study: optuna.Study,
    objective: Callable[[Trial], float],
    max_items: int | None = None,
    on_done: Callable[[FrozenTrial], None] | None = None,
) -> int:
    """Pop enqueued items one by one and run ``objective`` on each until none is left.

    A trial that ``ask()`` creates fresh (the queue was empty) is closed as FAIL
    with ``spurious`` set and the worker stops. An item already finished by
    someone else is skipped. Exceptions from the objective mark the trial FAIL
    with the message in ``error`` and the worker moves on. Returns the number of items run.
    """
    done = 0
    while max_items is None or done < max_items:
        trial = study.ask()
        key = trial.user_attrs.get(ITEM_ATTR)
        if key is None:
            trial.set_user_attr("spurious", True)
            study.tell(trial, state=TrialState.FAIL)
            break
        finished = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                    if t.user_attrs.get(ITEM_ATTR) == key]
        if finished:
            trial.set_user_attr("duplicate_of", finished[0].number)
            study.tell(trial, state=TrialState.FAIL)
            continue
        heartbeat(trial)
        try:
            value = objective(trial)
        except (ValueError, FileNotFoundError) as exc:
            trial.set_user_attr("error", str(exc))
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, value)
        done += 1
        if on_done is not None:
            on_done(study._storage.get_trial(trial._trial_id))
    return done
