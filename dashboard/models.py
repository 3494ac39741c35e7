"""The model every page shows: cached loads (model, its dataset's images, metrics, lookup settings),
the sidebar's choice of model (which also chooses the dataset: a model's own dataset decides the
images every page shows), and the server's training manager.

Only the small recorded facts (configuration, metrics, lookup settings) are read at import and by
the sidebar; torch (the model) and the images are imported and loaded when a page asks for them
(:func:`current_model`, :func:`dataset`), so a first view that needs neither starts fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from mbi.config import RunConfig
from mbi.data import Dataset, dataset_info, load_dataset
from mbi.model.checkpoint import (SHIPPED_MODELS, LookupSettings, check_weights_file, load_config, load_metrics,
                                  resolve_checkpoint)
from mbi.runs.jobs import LIMIT_VARIABLES, TrainingManager, limits_from_env, list_runs
from mbi.store import artifacts_root

if TYPE_CHECKING:
    from mbi.model.ram import RAM

from dashboard import furniture


MODEL_KEY = "model"
"""URL key and session-state key of the model chosen in the sidebar."""


DEFAULT_MODEL = "default"


@st.cache_resource(show_spinner="Loading the images ...", max_entries=2)
def _dataset(name: str) -> Dataset:
    return load_dataset(name)


def dataset() -> Dataset:
    """The splits of the chosen model's dataset (its ``config.json``'s; no torch), loaded once per server
    process and dataset (a decode the background preparation has begun is waited for, not repeated: the copy is
    built under a lock)."""
    return _dataset(current_config().dataset)


def wait_for_preparation() -> None:
    """If the chosen model's images, table and kernels are being prepared in the background
    (:func:`prepare_current`), wait for it with a spinner, so this page's lookups load the compiled kernels from
    disk instead of compiling them a second time in the server (twice the CPU, and the compiler's memory kept)."""
    from mbi.runs import prepare

    folder = model_folder(current_model_name())
    if prepare.running(folder):
        with st.spinner("Preparing the images, the lookup table and the search kernels ..."):
            prepare.wait_for(folder)


def _stamp(folder: Path) -> float:
    """Modification time of a checkpoint's weights: a retrained model gets a fresh cache entry."""
    try:
        return (folder / "model.pt").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def _model(path: str, stamp: float) -> RAM:
    from mbi.model.checkpoint import load_model  # imports torch: only pages that run the model get here

    return load_model(path)


@st.cache_data(max_entries=16)
def _run_config(path: str, stamp: float) -> dict:
    return load_config(path).to_dict()


@st.cache_data(max_entries=16)
def _metrics(path: str, stamp: float) -> dict:
    return load_metrics(path)


def _metrics_stamp(folder: Path) -> float:
    try:
        return (folder / "metrics.json").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource
def _manager(root: str, env_key: str) -> TrainingManager:
    return TrainingManager(Path(root), limits=limits_from_env())


def training_manager() -> TrainingManager:
    """The server's one training manager (one run at a time for all visitors), per artifacts root and limits."""
    env_key = "|".join(f"{k}={os.environ.get(k, '')}" for k in LIMIT_VARIABLES)
    return _manager(str(artifacts_root()), env_key)


@st.cache_data(max_entries=4, show_spinner=False)
def _app_runs(root: str, stamps: tuple) -> list:
    return list_runs(Path(root))


def _run_stamps(root: Path) -> tuple:
    """Cheap fingerprint of the app's run folders (names and file times): the run list's cache key."""
    folder = root / "runs" / "app"
    if not folder.is_dir():
        return ()
    out = []
    for run in sorted(folder.iterdir()):
        for name in ("job.json", "metrics.json", "model.pt"):
            try:
                out.append((run.name, name, (run / name).stat().st_mtime_ns))
            except OSError:
                pass
    return tuple(out)


def model_choices() -> dict[str, str]:
    """Models a visitor can pick: the shipped default, the shipped Fashion-MNIST model (when its files are there),
    then finished app runs with weights (newest first), then members of model-size families."""
    out = {DEFAULT_MODEL: "Shipped default model (MNIST)"}
    if (resolve_checkpoint("fashion-mnist") / "model.pt").is_file():
        out["fashion-mnist"] = "Shipped Fashion-MNIST model"
    root = artifacts_root()
    for run in _app_runs(str(root), _run_stamps(root)):
        if run.has_model and run.state not in ("starting", "running", "stopping"):
            acc = f", val {100 * run.best_val_acc:.1f}%" if run.best_val_acc is not None else ""
            out[run.path.name] = f"{run.name} ({run.path.name[:15]}{acc})"
    for weights in sorted((root / "scaling").glob("*/*/model.pt")):  # members of model-size families
        family, member = weights.parent.parent.name, weights.parent.name
        out[scaling_choice(family, member)] = f"{member} of the {family} family"
    return out


def scaling_choice(family: str, member: str) -> str:
    """The model choice of a member of a model-size family (``python -m mbi scaling``)."""
    return f"scaling/{family}/{member}"


def model_folder(choice: str) -> Path:
    """The checkpoint folder of a sidebar choice."""
    if choice in SHIPPED_MODELS:
        return resolve_checkpoint(choice)
    if choice.startswith("scaling/"):
        return artifacts_root() / choice
    return artifacts_root() / "runs" / "app" / choice


def current_model_name() -> str:
    """The sidebar's choice (the default model until the sidebar has run)."""
    return str(st.session_state.get(MODEL_KEY, DEFAULT_MODEL))


def current_model_key() -> tuple[str, float]:
    """(choice, weights mtime): a cache key that changes when the chosen model is retrained."""
    name = current_model_name()
    return name, _stamp(model_folder(name))


def prepare_current() -> None:
    """Get the chosen model's images, table and compiled kernels ready in the background, once per server process
    and model (:func:`mbi.runs.prepare.prepare_in_background`): called after each page's run, so the first page
    (the Overview, which needs none of them) is drawn first."""
    from mbi.runs.prepare import prepare_in_background

    folder = model_folder(current_model_name())
    if (folder / "model.pt").is_file():
        prepare_in_background(folder)


def current_config() -> RunConfig:
    """The chosen model's run configuration (``config.json``; cached, no torch)."""
    folder = model_folder(current_model_name())
    return RunConfig.from_dict(_run_config(str(folder), _stamp(folder)))


def class_names() -> tuple[str, ...]:
    """The chosen model's class names, from its dataset ('0'..'9' for MNIST, clothing for Fashion-MNIST; no torch)."""
    return dataset_info(current_config().dataset).class_names


def current_metrics() -> dict:
    """The chosen model's recorded metrics (``metrics.json``; cached, no torch)."""
    folder = model_folder(current_model_name())
    return _metrics(str(folder), _metrics_stamp(folder))


def current_model() -> tuple[RAM, RunConfig, dict]:
    """The chosen model, its run configuration and its metrics (cached; reloaded when the file changes)."""
    folder = model_folder(current_model_name())
    return _model(str(folder), _stamp(folder)), current_config(), current_metrics()


def set_model(choice: str) -> None:
    """Make ``choice`` the sidebar's model (used after training a run)."""
    st.session_state[MODEL_KEY] = choice


def load_or_stop() -> tuple[RAM, RunConfig, dict, Dataset]:
    """The chosen model and its dataset, or a clear message and the end of the page when they cannot load."""
    try:
        model, cfg, metrics = current_model()
        data = dataset()
    except furniture.USER_ERRORS as exc:
        st.error(f"The model or the data could not be loaded: {furniture.friendly(exc)}")
        st.stop()
    return model, cfg, metrics, data


def facts_or_stop() -> tuple[RunConfig, Dataset]:
    """The chosen model's configuration and dataset without the model itself (no torch: for pages whose RAM work
    runs in a child process, ``mbi.runs.tracecache``; the weights file gets the cheap check of
    :func:`mbi.model.checkpoint.check_weights_file`), or a clear message and the end of the page."""
    try:
        check_weights_file(model_folder(current_model_name()))
        cfg, data = current_config(), dataset()
    except furniture.USER_ERRORS as exc:
        st.error(f"The model or the data could not be loaded: {furniture.friendly(exc)}")
        st.stop()
    return cfg, data


@st.cache_data(max_entries=16, show_spinner=False)
def _lookup_settings(path: str, stamp: float) -> LookupSettings:
    return LookupSettings.read(Path(path))


def lookup_settings_of(name: str | None = None) -> LookupSettings:
    """The model's recorded lookup settings (``lookup.json``: weights, threshold, accuracies); empty settings
    when it has none or the file cannot be read."""
    try:
        folder = model_folder(name or current_model_name())
        stamp = (folder / "lookup.json").stat().st_mtime
    except furniture.USER_ERRORS:
        return LookupSettings()
    try:
        return _lookup_settings(str(folder), stamp)
    except furniture.USER_ERRORS:
        return LookupSettings()


@st.cache_data(max_entries=16, show_spinner=False)
def _example(path: str, stamp: tuple[float, float]) -> dict | None:
    from mbi.model.gallery import read_example

    return read_example(path)


def current_example() -> dict | None:
    """The chosen model's precomputed first view (``example.json``: parameters, test size, a few digits), or None."""
    folder = model_folder(current_model_name())
    try:
        stamp = ((folder / "example.json").stat().st_mtime, _stamp(folder))
    except OSError:
        return None
    return _example(str(folder), stamp)
