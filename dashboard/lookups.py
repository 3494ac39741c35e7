"""Lookups for the pages: the chosen model's table, search indexes and traces.

Expensive results are computed once per plain key (model, weights, search settings, images) and kept in a
small process-wide memo (and, for traces, on disk by ``mbi.runs.tracecache``), so sliders only redraw.
"""

from __future__ import annotations

from typing import Any, Sequence

import streamlit as st

from mbi.config import RunConfig
from mbi.model.checkpoint import SHIPPED_MODELS

from dashboard import furniture, models


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


def quantized(cfg: RunConfig) -> bool:
    """Whether the model has integer keys (a lookup table needs quantized patches and hidden states)."""
    return cfg.ram.patch_bits is not None and cfg.ram.hidden_bits is not None


@st.cache_resource(max_entries=2, show_spinner="Loading the lookup table ...")
def _table(choice: str, stamp: float) -> Any:
    from mbi.memory.lut import cached_table

    return cached_table(choice if choice in SHIPPED_MODELS else str(models.model_folder(choice)))


def lookup_table() -> Any:
    """The chosen model's full lookup table, or None after explaining why not (offers to distill it)."""
    from mbi.memory.lut import cached_table
    from mbi.runs.tracecache import table_ready

    name, stamp = models.current_model_key()
    try:
        _, cfg, _ = models.current_model()
    except furniture.USER_ERRORS as exc:
        st.error(furniture.friendly(exc))
        return None
    if not quantized(cfg):
        st.info("This model reads float patches or hidden states, so it has no integer keys to memorize: "
                "train one with patch and hidden-state bits to use lookups.", icon=":material/info:")
        return None
    target = name if name in SHIPPED_MODELS else str(models.model_folder(name))
    if not table_ready(target) and memo("tables", 4).get((name, stamp)) is None:
        st.info("Not yet distilled: this model has no lookup table yet. Distilling replays the 50,000 training "
                "images through the RAM and stores every glimpse step (about a minute on 2 cores).",
                icon=":material/hourglass_empty:")
        if not st.button("Distill the lookup table", key="distill_table", icon=":material/play_arrow:"):
            return None
        bar = st.progress(0.0, text="Replaying the training images through the RAM ...")
        try:
            cached_table(target, progress=lambda f: bar.progress(min(1.0, f), text=f"Replaying ... {100 * f:.0f}%"))
        except furniture.USER_ERRORS as exc:
            st.error(f"The table could not be distilled: {furniture.friendly(exc)}")
            return None
        bar.empty()
    try:
        table = _table(name, stamp)
    except furniture.USER_ERRORS as exc:
        st.error(f"The lookup table could not be loaded: {furniture.friendly(exc)}")
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
    from mbi.inference.lookup import StepIndex

    key = (models.current_model_key(), len(table), tuple(weights), kind, tree_key(tree))
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
    from mbi.runs.tracecache import cached_trace, trace_path

    weights = tuple(weights)
    key = (models.current_model_key(), len(table), split, int(count), weights, kind, tree_key(tree))
    cache = memo("trace", 24)
    trace = cache.get(key)
    if trace is not None:
        return trace
    model, _, _ = models.current_model()
    images = models.dataset().split(split)[0][: int(count)]
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
    from mbi.model.train import predict

    key = (models.current_model_key(), split, int(count))
    cache = memo("ram_pred", 8)
    pred = cache.get(key)
    if pred is None:
        model, _, _ = models.current_model()
        pred = cache.put(key, predict(model, models.dataset().split(split)[0][: int(count)]))
    return pred
