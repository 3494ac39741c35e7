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
    _weights_from_url()
    with st.sidebar:
        st.selectbox("Model", list(choices), format_func=choices.get, key=MODEL_KEY,
                     help="The RAM every page shows: the shipped default or a run trained on the "
                          "'RAM hyperparameters' page.")
        message = st.session_state.pop("_model_message", None)
        if message:
            st.warning(message)
        _model_summary()
        _weights_sidebar()


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


def peek(page: str, params: Sequence[urlstate.Param], page_names: set[str]) -> dict[str, Any]:
    """The values :func:`url_settings` is about to give ``params``, before it is called.

    For a page whose other settings depend on these (e.g. a threshold's range on the trace the
    image count gives): ``page_names`` are all the page's URL keys, so a changed link is seen
    exactly as :func:`url_settings` sees it.
    """
    query = st.query_params.to_dict()
    ours = {k: v for k, v in query.items() if k in page_names}
    if ours and ours != st.session_state.get(f"_url_last.{page}"):
        return urlstate.parse(params, query)[0]
    out = {}
    for p in params:
        key = _wkey(page, p.name)
        value = st.session_state.get(key, st.session_state.get(f"_keep.{key}", p.default))
        out[p.name] = value if urlstate.check(p, value) is None else p.default
    return out


def sync_url(page: str, params: Sequence[urlstate.Param], placeholder: Any = None) -> dict[str, Any]:
    """Write the page's current settings to the URL (non-defaults only) and return them."""
    values = {p.name: st.session_state.get(_wkey(page, p.name), p.default) for p in params}
    for name, value in values.items():
        st.session_state[f"_keep.{_wkey(page, name)}"] = value
    ours = urlstate.encode(params, values)
    query = {MODEL_KEY: current_model_name()} if current_model_name() != DEFAULT_MODEL else {}
    weights = weights_query()
    query.update(weights)
    query.update(ours)
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    st.session_state[f"_url_last.{page}"] = ours
    st.session_state["_url_weights"] = weights
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


# --------------------------------------------------------------------------- lookup: table, weights, traces
# Shared by the lookup pages (glimpse paths' lookup column, table size, metric search, cluster tree, mixed MBI).
# Expensive results are computed once per plain key (model, weights, search settings, images) and kept in a
# small process-wide memo (and, for traces, on disk by mbi.tracecache), so sliders only redraw.

WEIGHTS_STATE = "_weights"
"""Session-state key of the distance weights every lookup page uses (set by the metric search or a link)."""
WEIGHT_NAMES = ("wb", "wc")
"""URL keys of the weights: the ratios b/a and c/a of eq. (1) (a = 1), as in the metric search."""


class _Memo:
    """A small thread-safe least-recently-used dict (one per process, shared by all sessions)."""

    def __init__(self, size: int) -> None:
        import collections
        import threading

        self.size = size
        self.items: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: Any, value: Any) -> Any:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


@st.cache_resource
def memo(name: str, size: int) -> _Memo:
    """The process-wide memo ``name`` (pages keep their own expensive results here)."""
    return _Memo(size)


@st.cache_data(max_entries=16, show_spinner=False)
def _lookup_settings(path: str, stamp: float) -> dict:
    from mbi.checkpoint import lookup_settings

    return lookup_settings(path)


def lookup_settings_of(name: str | None = None) -> dict:
    """The model's recorded lookup settings (``lookup.json``: weights, threshold, accuracies), or {}."""
    try:
        folder = model_folder(name or current_model_name())
        stamp = (folder / "lookup.json").stat().st_mtime
    except USER_ERRORS:
        return {}
    try:
        return _lookup_settings(str(folder), stamp)
    except USER_ERRORS:
        return {}


def _ratios_of(weights: Sequence[float]) -> tuple[float, float]:
    """(b/a, c/a) of eq. (1) weights, inside the metric search's range, rounded as the URL writes them."""
    from mbi.bo import RATIO_RANGE

    a, b, c = (float(w) for w in weights)
    if not a > 0:
        return 1.0, 1.0
    lo, hi = RATIO_RANGE
    return tuple(float(f"{min(hi, max(lo, v)):.6g}") for v in (b / a, c / a))  # type: ignore[return-value]


def _weights_of(ratios: Sequence[float]) -> tuple[float, float, float]:
    from mbi.bo import weights_of

    return tuple(round(w, 12) for w in weights_of({"b_over_a": ratios[0], "c_over_a": ratios[1]}))  # type: ignore


def as_session_weights(weights: Sequence[float]) -> tuple[float, float, float]:
    """``weights`` as the session keeps them (ratios rounded as in links, normalized): comparable with
    :func:`current_weights`."""
    return _weights_of(_ratios_of(weights))


def unweighted() -> tuple[float, float, float]:
    """a = b = c, normalized like every session weight."""
    return _weights_of((1.0, 1.0))


def model_weights(name: str | None = None) -> tuple[tuple[float, float, float], str]:
    """The model's own weights (its ``lookup.json``, else unweighted) and where they come from."""
    recorded = lookup_settings_of(name).get("weights")
    if isinstance(recorded, list) and len(recorded) == 3 and all(isinstance(w, (int, float)) for w in recorded):
        return _weights_of(_ratios_of(recorded)), "the model's recorded weights (lookup.json)"
    return unweighted(), "unweighted (a = b = c)"


def weight_params(name: str | None = None) -> list[urlstate.Param]:
    """URL settings of the weights, defaulting to the model's own."""
    from mbi.bo import RATIO_RANGE

    wb, wc = _ratios_of(model_weights(name)[0])
    return [urlstate.Param("wb", wb, "float", lo=RATIO_RANGE[0], hi=RATIO_RANGE[1], label="weight ratio b/a"),
            urlstate.Param("wc", wc, "float", lo=RATIO_RANGE[0], hi=RATIO_RANGE[1], label="weight ratio c/a")]


def _weights_state() -> dict:
    state = st.session_state.get(WEIGHTS_STATE)
    if not state or state.get("model") != current_model_name():
        weights, source = model_weights()
        state = {"model": current_model_name(), "ratios": _ratios_of(weights), "source": source, "own": True}
        st.session_state[WEIGHTS_STATE] = state
    return state


def current_weights() -> tuple[float, float, float]:
    """The session's eq. (1) weights (a, b, c), normalized to sum 1: what every lookup page uses."""
    return _weights_of(_weights_state()["ratios"])


def weights_source() -> str:
    """Where the session's weights come from, in a few words."""
    return str(_weights_state()["source"])


def set_weights(weights: Sequence[float], source: str) -> None:
    """Use ``weights`` (a, b, c) on every lookup page of this session (and in its links)."""
    st.session_state[WEIGHTS_STATE] = {"model": current_model_name(), "ratios": _ratios_of(weights),
                                       "source": source, "own": False}


def reset_weights() -> None:
    """Back to the model's own weights."""
    st.session_state.pop(WEIGHTS_STATE, None)


def weights_text(weights: Sequence[float]) -> str:
    """``a : b : c = 1 : 0.52 : 1.9`` (ratios to a, as the metric search varies them)."""
    wb, wc = _ratios_of(weights)
    return f"a : b : c = 1 : {wb:.3g} : {wc:.3g}"


def weights_query() -> dict[str, str]:
    """The weights' URL parameters (only when they differ from the model's own)."""
    wb, wc = _weights_state()["ratios"]
    return urlstate.encode(weight_params(), {"wb": wb, "wc": wc})


def _weights_from_url() -> None:
    raw = {k: st.query_params.get(k) for k in WEIGHT_NAMES if k in st.query_params}
    if not raw or raw == st.session_state.get("_url_weights"):
        return
    params = weight_params()
    values, messages = urlstate.parse(params, raw)
    st.session_state[WEIGHTS_STATE] = {"model": current_model_name(), "ratios": (values["wb"], values["wc"]),
                                       "source": "from the link", "own": False}
    st.session_state["_url_weights"] = raw
    if messages:
        st.session_state["_weights_message"] = "The link's weights were fixed: " + " ".join(messages)


def _weights_sidebar() -> None:
    """Sidebar indicator of the session's distance weights, with a way back to the model's own."""
    try:
        _, cfg, _ = current_model()
    except USER_ERRORS:
        return
    if cfg.ram.patch_bits is None or cfg.ram.hidden_bits is None:
        return
    state = _weights_state()
    own, _ = model_weights()
    st.markdown(f"**Distance weights** (eq. 1)  \n{weights_text(current_weights())}")
    st.caption(f"Used by every lookup page; {state['source']}.")
    if current_weights() != own:
        st.button("Use the model's own weights", on_click=reset_weights, key="reset_weights",
                  icon=":material/undo:")
    message = st.session_state.pop("_weights_message", None)
    if message:
        st.warning(message)


def quantized(cfg: RunConfig) -> bool:
    """Whether the model has integer keys (a lookup table needs quantized patches and hidden states)."""
    return cfg.ram.patch_bits is not None and cfg.ram.hidden_bits is not None


@st.cache_resource(max_entries=2, show_spinner="Loading the lookup table ...")
def _table(choice: str, stamp: float) -> Any:
    from mbi.lut import cached_table

    return cached_table(choice if choice == DEFAULT_MODEL else str(model_folder(choice)))


def lookup_table() -> Any:
    """The chosen model's full lookup table, or None after explaining why not (offers to distill it)."""
    from mbi.lut import cached_table
    from mbi.tracecache import table_ready

    name, stamp = current_model_key()
    try:
        _, cfg, _ = current_model()
    except USER_ERRORS as exc:
        st.error(friendly(exc))
        return None
    if not quantized(cfg):
        st.info("This model reads float patches or hidden states, so it has no integer keys to memorize: "
                "train one with patch and hidden-state bits to use lookups.", icon=":material/info:")
        return None
    target = name if name == DEFAULT_MODEL else str(model_folder(name))
    if not table_ready(target) and memo("tables", 4).get((name, stamp)) is None:
        st.info("Not yet distilled: this model has no lookup table yet. Distilling replays the 50,000 training "
                "images through the RAM and stores every glimpse step (about a minute on 2 cores).",
                icon=":material/hourglass_empty:")
        if not st.button("Distill the lookup table", key="distill_table", icon=":material/play_arrow:"):
            return None
        bar = st.progress(0.0, text="Replaying the training images through the RAM ...")
        try:
            cached_table(target, progress=lambda f: bar.progress(min(1.0, f), text=f"Replaying ... {100 * f:.0f}%"))
        except USER_ERRORS as exc:
            st.error(f"The table could not be distilled: {friendly(exc)}")
            return None
        bar.empty()
    try:
        table = _table(name, stamp)
    except USER_ERRORS as exc:
        st.error(f"The lookup table could not be loaded: {friendly(exc)}")
        return None
    memo("tables", 4).put((name, stamp), True)
    return table


def table_or_stop() -> Any:
    """The lookup table, or the end of the page (after the reason is shown)."""
    table = lookup_table()
    if table is None:
        st.stop()
    return table


def tree_key(tree: dict | None) -> tuple:
    """A hashable form of k-means tree settings."""
    return tuple(sorted((tree or {}).items()))


def step_index(table: Any, weights: Sequence[float], kind: str = "brute", tree: dict | None = None) -> Any:
    """The per-step search index of the table (built once per model, weights and search settings)."""
    from mbi.infer import StepIndex

    key = (current_model_key(), len(table), tuple(weights), kind, tree_key(tree))
    cache = memo("index", 3)
    index = cache.get(key)
    if index is None:
        what = ("Building a k-means tree per glimpse step" if kind == "tree" else "Packing the table's keys")
        with st.spinner(f"{what} ({len(table):,} keys) ..."):
            index = cache.put(key, StepIndex(table, weights, kind, **(tree or {})))
    return index


def lookup_trace(table: Any, split: str, count: int, weights: Sequence[float], kind: str = "brute",
                 tree: dict | None = None) -> Any:
    """Lookup-only trace of the first ``count`` images of ``split`` (memory, then disk, then computed)."""
    from mbi.tracecache import cached_trace, trace_path

    weights = tuple(weights)
    key = (current_model_key(), len(table), split, int(count), weights, kind, tree_key(tree))
    cache = memo("trace", 24)
    trace = cache.get(key)
    if trace is not None:
        return trace
    model, _, _ = current_model()
    images = mnist().split(split)[0][: int(count)]
    index = None
    if not trace_path(table, weights, kind, tree, f"{split}:{count}").is_file():
        index = step_index(table, weights, kind, tree)
    bar = st.progress(0.0, text=f"Looking up {count:,} {split} images ({kind} search) ...")
    trace = cached_trace(model, table, images, f"{split}:{count}", weights, kind, tree, index=index,
                         progress=lambda f: bar.progress(f, text=f"Looking up {count:,} {split} images "
                                                                 f"({kind} search) ... {100 * f:.0f}%"))
    bar.empty()
    return cache.put(key, trace)


def ram_predictions(split: str, count: int) -> Any:
    """The chosen RAM's classes for the first ``count`` images of ``split`` (cached)."""
    from mbi.train import predict

    key = (current_model_key(), split, int(count))
    cache = memo("ram_pred", 8)
    pred = cache.get(key)
    if pred is None:
        model, _, _ = current_model()
        pred = cache.put(key, predict(model, mnist().split(split)[0][: int(count)]))
    return pred
