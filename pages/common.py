"""Shared pieces of the dashboard pages (not a page: ``app.py`` lists the pages it shows).

Cached loads (model, MNIST, training manager), the sidebar's model choice, page
settings kept in the URL, download buttons and friendly error display. Only UI
glue lives here; everything computed comes from ``mbi``.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import plotly.graph_objects as go
import streamlit as st

from mbi import plots, urlstate
from mbi.checkpoint import load_config, load_metrics, load_model, resolve_checkpoint
from mbi.config import RunConfig
from mbi.data import MNIST, load_mnist
from mbi.jobs import TrainingManager, limits_from_env, list_runs
from mbi.ram import RAM
from mbi.store import artifacts_root

MODEL_KEY = "model"
"""URL key and session-state key of the model chosen in the sidebar."""
DEFAULT_MODEL = "default"
USER_ERRORS = (ValueError, FileNotFoundError, OSError, RuntimeError)
"""What a page reports as a message instead of a traceback."""


# --------------------------------------------------------------------------- cached loads


@st.cache_resource(show_spinner="Loading MNIST ...")
def mnist() -> MNIST:
    """The MNIST splits, loaded once per server process."""
    return load_mnist()


def _stamp(folder: Path) -> float:
    """Modification time of a checkpoint's weights: a retrained model gets a fresh cache entry."""
    try:
        return (folder / "model.pt").stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner="Loading the model ...", max_entries=4)
def _model(path: str, stamp: float) -> RAM:
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


LIMIT_VARIABLES = ("MBI_HOSTED", "MBI_MAX_EPOCHS", "MBI_MAX_TRAIN_IMAGES", "MBI_MAX_VAL_IMAGES", "MBI_MAX_HIDDEN",
                   "MBI_MAX_RUNS")


def training_manager() -> TrainingManager:
    """The server's one training manager (one run at a time for all visitors), per artifacts root and limits."""
    env_key = "|".join(f"{k}={os.environ.get(k, '')}" for k in LIMIT_VARIABLES)
    return _manager(str(artifacts_root()), env_key)


# --------------------------------------------------------------------------- the model choice


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
    """Models a visitor can pick: the shipped default, then finished app runs with weights (newest first)."""
    out = {DEFAULT_MODEL: "Shipped default model"}
    root = artifacts_root()
    for run in _app_runs(str(root), _run_stamps(root)):
        if run.has_model and run.state not in ("starting", "running", "stopping"):
            acc = f", val {100 * run.best_val_acc:.1f}%" if run.best_val_acc is not None else ""
            out[run.path.name] = f"{run.name} ({run.path.name[:15]}{acc})"
    return out


def model_folder(choice: str) -> Path:
    """The checkpoint folder of a sidebar choice."""
    if choice == DEFAULT_MODEL:
        return resolve_checkpoint(DEFAULT_MODEL)
    return artifacts_root() / "runs" / "app" / choice


def current_model_name() -> str:
    """The sidebar's choice (the default model until the sidebar has run)."""
    return str(st.session_state.get(MODEL_KEY, DEFAULT_MODEL))


def current_model_key() -> tuple[str, float]:
    """(choice, weights mtime): a cache key that changes when the chosen model is retrained."""
    name = current_model_name()
    return name, _stamp(model_folder(name))


def current_model() -> tuple[RAM, RunConfig, dict]:
    """The chosen model, its run configuration and its metrics (cached; reloaded when the file changes)."""
    folder = model_folder(current_model_name())
    stamp = _stamp(folder)
    return (_model(str(folder), stamp), RunConfig.from_dict(_run_config(str(folder), stamp)),
            _metrics(str(folder), _metrics_stamp(folder)))


def sidebar() -> None:
    """The shared sidebar: which model every page shows (kept in the URL as ``?model=``)."""
    choices = model_choices()
    raw = st.query_params.get(MODEL_KEY)
    if raw is not None and raw != st.session_state.get("_url_model"):
        if raw in choices:
            st.session_state[MODEL_KEY] = raw
        else:
            st.session_state["_model_message"] = f"Model '{raw[:40]}' is not available here; showing the default."
            st.session_state[MODEL_KEY] = DEFAULT_MODEL
        st.session_state["_url_model"] = raw
    if st.session_state.get(MODEL_KEY) not in choices:
        st.session_state[MODEL_KEY] = DEFAULT_MODEL
    with st.sidebar:
        st.selectbox("Model", list(choices), format_func=choices.get, key=MODEL_KEY,
                     help="The RAM every page shows: the shipped default or a run trained on the "
                          "'RAM hyperparameters' page.")
        message = st.session_state.pop("_model_message", None)
        if message:
            st.warning(message)
        _model_summary()


def _model_summary() -> None:
    try:
        _, cfg, metrics = current_model()
    except USER_ERRORS as exc:
        st.error(friendly(exc))
        return
    r = cfg.ram
    acc = metrics.get("test_acc")
    st.caption(
        f"{r.num_glimpses} glimpses, {r.num_patches} patches of {r.patch_size}x{r.patch_size} (scale "
        f"{r.glimpse_scale}), hidden {r.state_size} x {r.hidden_bits or 'float'} bit, patch "
        f"{r.patch_bits or 'float'} bit"
        + (f"; test accuracy {100 * acc:.2f}%" if isinstance(acc, (int, float)) else ""))
    folder = model_folder(current_model_name())
    st.download_button("Download model (zip)", data=lambda: zip_folder(folder), file_name=f"mbi-{folder.name}.zip",
                       mime="application/zip", key="dl_model", icon=":material/download:")


def set_model(choice: str) -> None:
    """Make ``choice`` the sidebar's model (used after training a run)."""
    st.session_state[MODEL_KEY] = choice


# --------------------------------------------------------------------------- settings in the URL


def _wkey(page: str, name: str) -> str:
    return f"{page}.{name}"


def wkey(page: str, name: str) -> str:
    """Session-state key of a page setting's widget."""
    return _wkey(page, name)


def url_settings(page: str, params: Sequence[urlstate.Param]) -> Any:
    """Prepare a page's widgets from the URL; call before creating them (with ``key=wkey(page, name)``).

    A link or hand-edited URL seeds the widgets (invalid values are fixed and explained); otherwise
    each widget keeps the value it had when the visitor last saw the page. Returns the placeholder
    where :func:`sync_url` shows the messages.
    """
    names = urlstate.names(params)
    query = st.query_params.to_dict()
    ours = {k: v for k, v in query.items() if k in names}
    last = st.session_state.get(f"_url_last.{page}")
    if ours and ours != last:
        values, messages = urlstate.parse(params, query)
        for p in params:
            st.session_state[_wkey(page, p.name)] = values[p.name]
        st.session_state[f"_url_msgs.{page}"] = (messages, values)
    for p in params:
        key = _wkey(page, p.name)
        if key not in st.session_state:
            st.session_state[key] = st.session_state.get(f"_keep.{key}", p.default)
        elif urlstate.check(p, st.session_state[key]) is not None:
            st.session_state[key] = p.default
    return st.container()


def sync_url(page: str, params: Sequence[urlstate.Param], placeholder: Any = None) -> dict[str, Any]:
    """Write the page's current settings to the URL (non-defaults only) and return them."""
    values = {p.name: st.session_state.get(_wkey(page, p.name), p.default) for p in params}
    for name, value in values.items():
        st.session_state[f"_keep.{_wkey(page, name)}"] = value
    ours = urlstate.encode(params, values)
    query = {MODEL_KEY: current_model_name()} if current_model_name() != DEFAULT_MODEL else {}
    query.update(ours)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[f"_url_last.{page}"] = ours
    if MODEL_KEY in query:
        st.session_state["_url_model"] = query[MODEL_KEY]
    stored = st.session_state.get(f"_url_msgs.{page}")
    if stored:
        messages, seeded = stored
        if values != seeded:
            st.session_state.pop(f"_url_msgs.{page}")
        elif messages and placeholder is not None:
            placeholder.warning("The link had settings this page cannot use, so they were fixed: "
                                + " ".join(messages), icon=":material/link:")
    return values


# --------------------------------------------------------------------------- page furniture


def intro(title: str, text: str, figure: str | None = None) -> None:
    """Page title, two or three plain sentences, and the paper figure the page reproduces."""
    st.title(title)
    st.markdown(text)
    if figure:
        st.caption(f"Reproduces {figure} of Giacomini et al., arXiv 2307.07631.")


def friendly(exc: BaseException) -> str:
    """One line for a user (no traceback)."""
    text = str(exc).strip() or type(exc).__name__
    return text[:400]


def plot(fig: go.Figure, key: str, download_name: str | None = None) -> None:
    """Show a figure full width; optionally offer it as a standalone HTML file."""
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    if download_name:
        st.download_button("Download figure (HTML)", data=lambda: fig.to_html(include_plotlyjs=True),
                           file_name=f"{download_name}.html", mime="text/html", key=f"dl_{key}",
                           icon=":material/download:")


def table(frame: Any, key: str, title: str = "", max_rows: int = 60) -> None:
    """A pandas DataFrame as a Plotly table (st.dataframe needs pyarrow, which this numpy 1.x stack lacks)."""
    shown = frame.head(max_rows)

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    rows = [[cell(x) for x in row] for row in shown.itertuples(index=False)]
    fig = plots.table_figure([str(c) for c in shown.columns], rows, title)
    fig.update_layout(height=min(700, 45 + (50 if title else 0) + 22 * len(rows)))
    st.plotly_chart(fig, key=key, config={"displaylogo": False})
    if len(frame) > max_rows:
        st.caption(f"First {max_rows} of {len(frame)} rows; download the CSV for all.")


def csv_download(frame: Any, name: str, key: str, label: str = "Download table (CSV)") -> None:
    """A CSV download button for a pandas DataFrame."""
    st.download_button(label, data=frame.to_csv(index=False).encode("utf-8"), file_name=f"{name}.csv",
                       mime="text/csv", key=key, icon=":material/download:")


def zip_folder(folder: Path, pattern: Callable[[Path], bool] | None = None) -> bytes:
    """A run folder's files (checkpoint, config, metrics) as zip bytes; temp files left out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(folder).glob("*")):
            if path.is_file() and not path.name.startswith(".") and (pattern is None or pattern(path)):
                zf.write(path, arcname=f"{Path(folder).name}/{path.name}")
    return buffer.getvalue()


def load_or_stop() -> tuple[RAM, RunConfig, dict, MNIST]:
    """The chosen model and MNIST, or a clear message and the end of the page when they cannot load."""
    try:
        model, cfg, metrics = current_model()
        data = mnist()
    except USER_ERRORS as exc:
        st.error(f"The model or the data could not be loaded: {friendly(exc)}")
        st.stop()
    return model, cfg, metrics, data
