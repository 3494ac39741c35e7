"""The reproduction's Optuna study: open or create it with its profile, enqueue, work, collect results.

Items are enqueued once in the study (:func:`mbi.runs.studies.enqueue_missing`); any number of
workers, on one machine or many, pop them atomically (:func:`mbi.runs.studies.run_worker`). The
profile itself is a study user attribute, so ``python -m mbi worker --storage URL`` needs nothing
else. A finished item is never run again; a killed worker's item is re-queued after its heartbeat
goes stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from mbi.runs.reproduce.items import DATASET_ROWS, RESULT_ATTR, make_objective, work_items
from mbi.runs.studies import ITEM_ATTR, enqueue_missing, item_params, load_or_create, open_storage, run_worker

CONFIG_ATTR = "reproduce_config"


def study_name(cfg: dict[str, Any]) -> str:
    """Default study of a profile."""
    return f"reproduce-{cfg['profile']}"


def open_reproduction(storage_url: str | None, out: Path, name: str | None = None,
                      cfg: dict[str, Any] | None = None) -> tuple[optuna.Study, dict[str, Any]]:
    """Create or load the study; store ``cfg`` in it (first time) or read it back (workers).

    Without ``storage_url`` the journal ``OUT/reproduce.journal`` is used.
    """
    storage = open_storage(storage_url, Path(out) / "reproduce.journal")
    if name is None:
        if cfg is None:
            names = [s.study_name for s in optuna.get_all_study_summaries(storage)
                     if s.study_name.startswith("reproduce-")]
            if len(names) != 1:
                raise ValueError(f"name the study with --study; this storage holds {names or 'no reproduction'}")
            name = names[0]
        else:
            name = study_name(cfg)
    study = load_or_create(storage, name, direction="maximize")
    stored = study.user_attrs.get(CONFIG_ATTR)
    if cfg is None:
        if stored is None:
            raise ValueError(f"study {name!r} holds no reproduction yet; start it with `python -m mbi reproduce`")
        cfg = json.loads(stored)
    elif stored is not None and json.loads(stored) != json.loads(json.dumps(cfg)):
        raise ValueError(f"study {name!r} was started with other settings; use another --study or --storage")
    else:
        study.set_user_attr(CONFIG_ATTR, json.dumps(cfg))
    return study, cfg


def work(study: optuna.Study, cfg: dict[str, Any], out: Path, storage_url: str | None = None,
         max_items: int | None = None, on_done: Callable[[Any], None] | None = None) -> int:
    """Run queued items of the study in this process until none is left (or ``max_items``)."""
    return run_worker(study, make_objective(cfg, Path(out), storage_url), max_items=max_items, on_done=on_done)


def start(cfg: dict[str, Any], out: Path, storage_url: str | None = None, name: str | None = None,
          grace_s: float | None = None) -> tuple[optuna.Study, int]:
    """Open (or create) the reproduction's study and enqueue the items not yet queued or finished."""
    study, cfg = open_reproduction(storage_url, out, name, cfg)
    kwargs = {} if grace_s is None else {"grace_s": grace_s}
    return study, enqueue_missing(study, work_items(cfg), **kwargs)


def collect(study: optuna.Study) -> dict[str, Any]:
    """Results of the finished items: {"sweeps": {fig: [rows]}, "tablesize": [points], kind: result}, and per
    dataset row with a finished item (e.g. ``"fashion"``) the same {"tablesize": [points], kind: result}."""
    out: dict[str, Any] = {"sweeps": {"fig3a": [], "fig3b": [], "fig3c": []}, "tablesize": []}
    states = {"COMPLETE": 0, "WAITING": 0, "RUNNING": 0, "FAIL": 0}
    errors = []
    trials = [t for t in study.get_trials(deepcopy=False)
              if not (t.user_attrs.get("spurious") or "duplicate_of" in t.user_attrs)]
    completed = {t.user_attrs.get(ITEM_ATTR) for t in trials if t.state == TrialState.COMPLETE}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
        if t.state == TrialState.FAIL and "error" in t.user_attrs and t.user_attrs.get(ITEM_ATTR) not in completed:
            errors.append({"item": t.user_attrs.get(ITEM_ATTR), "error": t.user_attrs["error"]})
        if t.state != TrialState.COMPLETE or RESULT_ATTR not in t.user_attrs:
            continue
        item = item_params(t)
        result = json.loads(t.user_attrs[RESULT_ATTR])
        into = out.setdefault(item["row"], {"tablesize": []}) if "row" in item else out
        if item["kind"] == "sweep":
            out["sweeps"][item["figure"]].append({**result, "state": "COMPLETE", "trial": t.number})
        elif item["kind"] == "tablesize":
            into["tablesize"].append(result)
        else:
            into[item["kind"]] = result
    for into in (out, *(out[row] for row in DATASET_ROWS if row in out)):
        into["tablesize"].sort(key=lambda p: p["rows"])
    out["trials"] = states
    out["errors"] = errors
    return out
