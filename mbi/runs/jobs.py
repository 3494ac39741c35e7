"""Background training for a shared server: one run at a time, stoppable, results on disk.

The dashboard is one process serving many visitors. A :class:`TrainingManager`
(one per process) runs :func:`mbi.model.train.train` in a daemon thread so the page
that started it, and every other visitor, stays responsive. Rules:

- **One run at a time per process.** :meth:`TrainingManager.start` raises
  :class:`BusyError` (with what is running and since when) while a run is active.
- **Bounded.** :class:`Limits` caps epochs, training images, validation images,
  model width and (optionally) how many app runs stay on disk; ``MBI_HOSTED=1``
  selects small caps for a public copy, and ``MBI_MAX_EPOCHS`` /
  ``MBI_MAX_TRAIN_IMAGES`` / ``MBI_MAX_VAL_IMAGES`` / ``MBI_MAX_HIDDEN`` /
  ``MBI_MAX_RUNS`` override them (see :func:`limits_from_env`).
- **Stoppable.** :meth:`Job.stop` sets a flag the worker checks after every
  progress event; it then closes the training generator, so every finished epoch
  stays on disk (``model.pt`` of the best epoch, ``metrics.json``).
- **Kept.** Each run lives in its own folder under ``ARTIFACTS/runs/app/`` with the
  usual checkpoint files plus ``job.json`` (name, state, error, times), so a page
  that is left and reopened, or a restarted server, finds it again
  (:func:`list_runs`). The job's progress events stay in memory for live curves.

No streamlit here: the app keeps one manager in ``st.cache_resource``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Mapping

from mbi.config import RunConfig
from mbi.data import Dataset, load_dataset
from mbi.store import artifacts_root, atomic_write_json, read_json
from mbi.validate import env_int

if TYPE_CHECKING:  # training (torch) is imported when a run starts, so listing runs stays cheap
    from mbi.model.train import Start, TrainEvent

State = Literal["starting", "running", "stopping", "stopped", "done", "failed"]
ACTIVE_STATES = ("starting", "running", "stopping")
APP_RUNS = Path("runs") / "app"
"""Where app-trained runs live, relative to the artifacts root."""
MAX_EVENTS = 5000
"""Progress events kept per job (older batch events are thinned out beyond this)."""


class BusyError(RuntimeError):
    """A training run is already active in this process."""


@dataclass(frozen=True)
class Limits:
    """Caps on what a dashboard visitor may train (checked before a run starts) and on the memory the server
    keeps results in (``cache_mb``: the dashboard's memo of tables, search indexes and traces)."""

    max_epochs: int = 100
    max_train_images: int = 50_000
    max_val_images: int = 10_000
    max_hidden: int = 1024
    hosted: bool = False
    max_runs: int | None = None  # app-trained run folders kept on disk (oldest removed first); None = all
    cache_mb: int = 200  # MB of computed results kept in memory per server process (least recently used dropped)

    def check(self, cfg: RunConfig) -> None:
        """Raise ValueError naming the first setting over a limit."""
        t, r = cfg.train, cfg.ram
        where = " on this hosted server" if self.hosted else ""
        if t.epochs > self.max_epochs:
            raise ValueError(f"epochs is limited to {self.max_epochs}{where}, got {t.epochs}")
        for what, limit, total, cap in (("training", t.train_limit, 50_000, self.max_train_images),
                                        ("validation", t.val_limit, 10_000, self.max_val_images)):
            used = total if limit is None else limit
            if used > cap:
                raise ValueError(f"{what} images are limited to {cap:,}{where}, got {used:,}")
        for name in WIDTH_FIELDS:
            if getattr(r, name) > self.max_hidden:
                raise ValueError(f"{name} is limited to {self.max_hidden}{where}, got {getattr(r, name)}")


HOSTED_LIMITS = Limits(max_epochs=3, max_train_images=5_000, max_val_images=2_000, max_hidden=256, hosted=True,
                       max_runs=20, cache_mb=100)


def hosted_from_env(env: Mapping[str, str] | None = None) -> bool:
    """Whether this server is a public copy: ``MBI_HOSTED`` is 1, true, yes or on."""
    env = os.environ if env is None else env
    return env.get("MBI_HOSTED", "").strip().lower() in ("1", "true", "yes", "on")


LIMIT_VARIABLES = ("MBI_HOSTED", "MBI_MAX_EPOCHS", "MBI_MAX_TRAIN_IMAGES", "MBI_MAX_VAL_IMAGES", "MBI_MAX_HIDDEN",
                   "MBI_MAX_RUNS", "MBI_CACHE_MB")
"""The environment variables :func:`limits_from_env` reads."""


def limits_from_env(env: dict[str, str] | None = None) -> Limits:
    """Limits for this server: ``MBI_HOSTED=1`` picks :data:`HOSTED_LIMITS`, the ``MBI_MAX_*`` variables override."""
    env = dict(os.environ if env is None else env)
    base = HOSTED_LIMITS if hosted_from_env(env) else Limits()
    return dataclasses.replace(
        base,
        max_epochs=env_int(env, "MBI_MAX_EPOCHS", base.max_epochs),
        max_train_images=env_int(env, "MBI_MAX_TRAIN_IMAGES", base.max_train_images),
        max_val_images=env_int(env, "MBI_MAX_VAL_IMAGES", base.max_val_images),
        max_hidden=env_int(env, "MBI_MAX_HIDDEN", base.max_hidden),
        max_runs=env_int(env, "MBI_MAX_RUNS", base.max_runs),
        cache_mb=env_int(env, "MBI_CACHE_MB", base.cache_mb),
    )


WIDTH_FIELDS = ("hidden_size", "glimpse_hidden", "loc_hidden", "glimpse_size", "state_size")
"""The RAM's layer widths (what :attr:`Limits.max_hidden` caps)."""


def smaller_copy(cfg: RunConfig, limits: Limits) -> RunConfig:
    """``cfg``'s architecture, trained briefly: within ``limits`` and :data:`HOSTED_LIMITS`, whichever is tighter.

    The dataset, glimpses, patches, bits and grid are kept; widths are capped at the hosted width, and training is at
    most the hosted epochs on the hosted numbers of training and validation images (one thread), so a
    classroom copy trains in minutes on a shared server.
    """
    def tight(name: str) -> int:
        return min(getattr(limits, name), getattr(HOSTED_LIMITS, name))

    ram = dataclasses.replace(cfg.ram, **{n: min(getattr(cfg.ram, n), tight("max_hidden")) for n in WIDTH_FIELDS})
    t = cfg.train
    train = dataclasses.replace(t, epochs=min(t.epochs, tight("max_epochs")), num_threads=1,
                                train_limit=min(t.train_limit or 50_000, tight("max_train_images")),
                                val_limit=min(t.val_limit or 10_000, tight("max_val_images")))
    copy = RunConfig(ram, train, cfg.dataset)
    limits.check(copy)
    return copy


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class JobView:
    """A consistent copy of a job's state for display (safe to read without locks)."""

    id: str
    name: str
    run_dir: Path
    config: RunConfig
    state: State
    events: list[TrainEvent]
    error: str | None
    started: str
    finished: str | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def last(self) -> TrainEvent | None:
        return self.events[-1] if self.events else None

    @property
    def progress(self) -> float:
        """Share of the run done, 0..1 (by batches)."""
        ev = self.last
        if ev is None or ev.epochs == 0:
            return 0.0
        if ev.kind in ("done", "epoch"):
            done = ev.epoch / ev.epochs if ev.kind == "epoch" else 1.0
        else:
            done = (max(ev.epoch - 1, 0) + (ev.batch / ev.batches if ev.batches else 0.0)) / ev.epochs
        return float(min(max(done, 0.0), 1.0))

    def curves(self) -> tuple[list[dict], list[dict]]:
        """(batch points, epoch points) for live curves: x in epochs (fractional for batches)."""
        batch_pts, epoch_pts = [], []
        for ev in self.events:
            if ev.kind == "batch" and ev.batches:
                batch_pts.append({"x": ev.epoch - 1 + ev.batch / ev.batches, "loss": ev.loss, "train_acc": ev.train_acc})
            elif ev.kind == "epoch":
                epoch_pts.append({"x": float(ev.epoch), "loss": ev.loss, "train_acc": ev.train_acc,
                                  "val_acc": ev.val_acc})
        return batch_pts, epoch_pts


class Job:
    """One training run in a background thread; use :meth:`view` to read it, :meth:`stop` to end it."""

    def __init__(self, name: str, run_dir: Path, cfg: RunConfig, owner: str | None = None) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.name = name
        self.run_dir = run_dir
        self.config = cfg
        self.owner = owner
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._events: list[TrainEvent] = []
        self._state: State = "starting"
        self._error: str | None = None
        self.started = _now()
        self.finished: str | None = None
        self._thread: threading.Thread | None = None

    def stop(self) -> None:
        """Ask the run to end after its current batch; finished epochs are kept."""
        with self._lock:
            if self._state in ("starting", "running"):
                self._state = "stopping"
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def state(self) -> State:
        with self._lock:
            return self._state

    def view(self) -> JobView:
        """A snapshot of the job (events copied under the lock)."""
        with self._lock:
            return JobView(self.id, self.name, self.run_dir, self.config, self._state, list(self._events),
                           self._error, self.started, self.finished)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker thread to end (tests and shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _append(self, ev: TrainEvent) -> None:
        with self._lock:
            self._events.append(ev)
            if len(self._events) > MAX_EVENTS:  # drop every other batch event of the older half
                half = len(self._events) // 2
                old = [e for i, e in enumerate(self._events[:half]) if e.kind != "batch" or i % 2 == 0]
                self._events = old + self._events[half:]
            if self._state == "starting":
                self._state = "running"

    def _finish(self, state: State, error: str | None = None) -> None:
        with self._lock:
            self._state = state
            self._error = error
            self.finished = _now()
        self._write_meta()

    def _write_meta(self) -> None:
        view = self.view()
        last = next((e for e in reversed(view.events) if e.best_val_acc is not None), None)
        atomic_write_json(self.run_dir / "job.json", {
            "id": view.id, "name": view.name, "state": view.state, "error": view.error, "owner": self.owner,
            "started": view.started, "finished": view.finished,
            "best_val_acc": last.best_val_acc if last else None,
        })


def _run(job: Job, events: Callable[[], Iterator[TrainEvent]]) -> None:
    """Worker body: iterate the training generator, honour the stop flag, record the outcome."""
    gen = None
    try:
        job._write_meta()
        gen = events()
        for ev in gen:
            job._append(ev)
            if job.stop_requested:
                gen.close()  # GeneratorExit inside train(): finished epochs are already saved
                job._finish("stopped")
                return
        job._finish("done")
    except (ValueError, FileNotFoundError, RuntimeError, OSError, MemoryError) as exc:
        if gen is not None:
            gen.close()
        job._finish("failed", f"{type(exc).__name__}: {exc}"[:500])
    except BaseException as exc:  # never let a worker die silently
        job._finish("failed", f"{type(exc).__name__}: {exc}"[:500])
        raise


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40] or "run"


class TrainingManager:
    """Process-wide owner of the (at most one) active training run and of the app's run folders."""

    def __init__(self, root: Path | None = None, limits: Limits | None = None,
                 data_loader: Callable[[str], Dataset] = load_dataset, log_every: int | None = None) -> None:
        self.root = Path(root) if root is not None else artifacts_root()
        self.limits = limits or limits_from_env()
        self.data_loader = data_loader
        self.log_every = log_every
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._active: Job | None = None

    def _prune(self) -> list[Path]:
        """Delete the oldest app run folders so that, with the run about to start, at most ``max_runs`` remain."""
        keep = self.limits.max_runs
        if keep is None or not self.runs_dir.is_dir():
            return []
        folders = sorted((p for p in self.runs_dir.iterdir() if p.is_dir()), key=lambda p: p.name)
        active = {j.run_dir for j in self._jobs.values() if j.state in ACTIVE_STATES}
        removed = []
        for folder in folders[: max(0, len(folders) - (keep - 1))]:
            if folder not in active:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

    @staticmethod
    def auto_log_every(cfg: RunConfig, points_per_epoch: int = 25) -> int:
        """Batches between progress events so an epoch gives about ``points_per_epoch`` curve points."""
        images = cfg.train.train_limit or 50_000
        batches = -(-images // cfg.train.batch_size)
        return max(1, batches // points_per_epoch)

    @property
    def runs_dir(self) -> Path:
        return self.root / APP_RUNS

    def active(self) -> Job | None:
        """The running (or stopping) job, if any."""
        with self._lock:
            if self._active is not None and self._active.state not in ACTIVE_STATES:
                self._active = None
            return self._active

    def get(self, job_id: str | None) -> Job | None:
        """A job started by this process (None for unknown ids, e.g. after a restart)."""
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def start(self, cfg: RunConfig, name: str = "", owner: str | None = None) -> Job:
        """Check ``cfg`` against the limits and start training it in a background thread.

        Raises :class:`BusyError` while another run is active and ``ValueError`` for a config over a limit.
        """
        return self._launch(cfg, name, owner, None, "scratch")

    def resume(self, job_id: str, start: Start = "last", owner: str | None = None) -> Job:
        """Continue a stopped or failed job of this process in its own folder: from its last epoch, its best
        checkpoint or from scratch (see :func:`mbi.model.train.train`; nothing is deleted)."""
        old = self.get(job_id)
        if old is None or old.state in ACTIVE_STATES:
            raise ValueError("only a stopped or failed run of this server session can be continued")
        return self._launch(old.config, old.name, owner, old.run_dir, start)

    def _launch(self, cfg: RunConfig, name: str, owner: str | None, run_dir: Path | None, start: Start) -> Job:
        self.limits.check(cfg)
        with self._lock:
            current = self._active
            if current is not None and current.state in ACTIVE_STATES:
                view = current.view()
                ev = view.last
                where = f", epoch {ev.epoch}/{ev.epochs}" if ev else ""
                raise BusyError(f"another training run ('{view.name}', started {view.started}{where}) is in "
                                "progress on this server; only one runs at a time. Try again when it finishes.")
            label = name.strip() or "run"
            if run_dir is None:
                self._prune()
                stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
                run_dir = self.runs_dir / f"{stamp}-{_slug(label)}-{uuid.uuid4().hex[:4]}"
            job = Job(label, run_dir, cfg, owner)
            self._jobs[job.id] = job
            self._active = job
        log_every = self.log_every or self.auto_log_every(cfg)
        folder = run_dir

        from mbi.model.train import train

        def events() -> Iterator[TrainEvent]:
            return train(cfg, folder, data=self.data_loader(cfg.dataset), start=start, log_every=log_every)

        job._thread = threading.Thread(target=_run, args=(job, events), name=f"mbi-train-{job.id}", daemon=True)
        job._thread.start()
        return job


@dataclass
class RunInfo:
    """A training run folder found on disk."""

    path: Path
    name: str
    state: str
    config: RunConfig
    history: list[dict] = field(default_factory=list)
    best_val_acc: float | None = None
    test_acc: float | None = None
    started: str | None = None

    @property
    def has_model(self) -> bool:
        return (self.path / "model.pt").is_file()


def read_run(path: Path) -> RunInfo | None:
    """A run folder's config, metrics and job state (None when it is not a readable run)."""
    path = Path(path)
    try:
        cfg = RunConfig.from_dict(read_json(path / "config.json"))
    except (FileNotFoundError, ValueError, TypeError):
        return None
    metrics, meta = {}, {}
    try:
        if (path / "metrics.json").is_file():
            metrics = read_json(path / "metrics.json")
        if (path / "job.json").is_file():
            meta = read_json(path / "job.json")
    except ValueError:
        pass
    best = metrics.get("best_val_acc")
    return RunInfo(path=path, name=str(meta.get("name") or path.name), state=str(meta.get("state") or "done"),
                   config=cfg, history=list(metrics.get("history", [])),
                   best_val_acc=best if isinstance(best, (int, float)) and best >= 0 else None,
                   test_acc=metrics.get("test_acc"), started=meta.get("started"))


def list_runs(root: Path | None = None, include_sweeps: bool = False) -> list[RunInfo]:
    """Run folders under ``ARTIFACTS/runs/app`` (and ``runs/<sweep>/`` when ``include_sweeps``), newest first."""
    base = (Path(root) if root is not None else artifacts_root()) / "runs"
    if not base.is_dir():
        return []
    folders = sorted((base / "app").glob("*/config.json")) if (base / "app").is_dir() else []
    if include_sweeps:
        folders += sorted(p for p in base.glob("*/*/config.json") if p.parent.parent.name != "app")
    runs = [r for r in (read_run(p.parent) for p in folders) if r is not None]
    runs.sort(key=lambda r: (r.path.parent.name == "app", r.path.name), reverse=True)
    return runs


__all__ = ["ACTIVE_STATES", "APP_RUNS", "BusyError", "HOSTED_LIMITS", "Job", "JobView", "Limits", "RunInfo",
           "TrainingManager", "WIDTH_FIELDS", "limits_from_env", "list_runs", "read_run", "smaller_copy"]
