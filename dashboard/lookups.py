"""Lookups for the pages: the chosen model's table, search indexes and traces.

Expensive results are computed once per plain key (model, weights, search settings, images) and kept in a
small process-wide memo (and, for traces, on disk by ``mbi.runs.tracecache``), so sliders only redraw.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any, Callable, Iterator, Sequence

import streamlit as st

from mbi.config import RunConfig, TreeConfig
from mbi.model.checkpoint import SHIPPED_MODELS
from mbi.runs.jobs import limits_from_env
from mbi.runs.memo import ByteLRU
from mbi.runs.quota import QuotaError, WorkQuota, quota_from_env

from dashboard import furniture, models


class _Memo:
    """One kind of result (``name``, at most ``size`` entries) in the server's byte-bounded memo.

    All memos share one :class:`mbi.runs.memo.ByteLRU` of ``MBI_CACHE_MB`` (default 200 MB, hosted 100 MB); when
    keeping a result drops older ones, or a result is too large to keep, the page says so.
    """

    def __init__(self, name: str, size: int, store: ByteLRU) -> None:
        self.name, self.size, self.store = name, size, store

    def get(self, key: Any) -> Any:
        return self.store.get(self.name, key)

    def put(self, key: Any, value: Any) -> Any:
        dropped = self.store.put(self.name, key, value, entries=self.size)
        freed = [d for d in dropped if not d.refused]
        if any(d.refused for d in dropped):
            st.caption(f"This result ({dropped[0].nbytes / 1e6:.0f} MB) is larger than the server's memory for "
                       f"results (MBI_CACHE_MB={self.store.max_bytes // 1_000_000}), so it is not kept: it is "
                       "recomputed (or read from disk) next time.")
        elif sum(d.nbytes for d in freed) >= 1_000_000:  # small results come and go without a note
            st.caption(f"To make room, the server dropped {len(freed)} older result{'s' if len(freed) != 1 else ''} "
                       f"({sum(d.nbytes for d in freed) / 1e6:.1f} MB) from memory (MBI_CACHE_MB="
                       f"{self.store.max_bytes // 1_000_000}); they are recomputed or read from disk when asked "
                       "for again.")
        return value


@st.cache_resource
def _store(max_bytes: int) -> ByteLRU:
    return ByteLRU(max_bytes)


def memo(name: str, size: int) -> _Memo:
    """The process-wide memo ``name`` (pages keep their own expensive results here), at most ``size`` entries."""
    return _Memo(name, size, _store(limits_from_env().cache_mb * 1_000_000))


@st.cache_resource
def _quota(env_key: str) -> WorkQuota:
    return quota_from_env()


QUOTA_VARIABLES = ("MBI_HOSTED", "MBI_MAX_FRESH_LOOKUPS", "MBI_MAX_CONCURRENT_LOOKUPS")


@contextlib.contextmanager
def fresh_work(what: str = "lookup pass") -> Iterator[None]:
    """Run expensive uncached work for this session within the server's quota (``mbi.runs.quota``);
    over it, the page ends with a message saying when to try again."""
    try:
        quota = _quota("|".join(f"{k}={os.environ.get(k, '')}" for k in QUOTA_VARIABLES))
    except ValueError as exc:
        st.error(furniture.friendly(exc))
        st.stop()
    visitor = st.session_state.setdefault("_visitor", uuid.uuid4().hex)
    try:
        quota.acquire(visitor, what)
    except QuotaError as exc:
        st.warning(f"Not started: {furniture.friendly(exc)}.", icon=":material/hourglass_empty:")
        st.stop()
    try:
        yield
    finally:
        quota.release(visitor)


def quantized(cfg: RunConfig) -> bool:
    """Whether the model has integer keys (a lookup table needs quantized patches and hidden states)."""
    return cfg.ram.patch_bits is not None and cfg.ram.hidden_bits is not None


def _table(choice: str, stamp: float) -> Any:
    """The full table of a model choice, kept in the byte-bounded memo (two at most)."""
    from mbi.memory.lut import cached_table

    cache = memo("tables", 2)
    table = cache.get((choice, stamp))
    if table is None:
        models.wait_for_preparation()
        with st.spinner("Loading the lookup table ..."):
            table = cached_table(choice if choice in SHIPPED_MODELS else str(models.model_folder(choice)))
        cache.put((choice, stamp), table)
    return table


def lookup_table() -> Any:
    """The chosen model's full lookup table, or None after explaining why not (offers to distill it)."""
    from mbi.memory.lut import cached_table
    from mbi.runs.tracecache import table_ready

    name, stamp = models.current_model_key()
    try:
        cfg = models.current_config()
    except furniture.USER_ERRORS as exc:
        st.error(furniture.friendly(exc))
        return None
    if not quantized(cfg):
        st.info("This model reads float patches or hidden states, so it has no integer keys to memorize: "
                "train one with patch and hidden-state bits to use lookups.", icon=":material/info:")
        return None
    target = name if name in SHIPPED_MODELS else str(models.model_folder(name))
    if not table_ready(target) and memo("tables", 2).get((name, stamp)) is None:
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
    return table


def table_or_stop() -> Any:
    """The lookup table, or the end of the page (after the reason is shown)."""
    table = lookup_table()
    if table is None:
        st.stop()
    return table


def step_index(table: Any, weights: Sequence[float], kind: str = "brute", tree: TreeConfig | None = None) -> Any:
    """The per-step search index of the table (built once per model, weights and search settings)."""
    from mbi.inference.lookup import StepIndex

    key = (models.current_model_key(), len(table), tuple(weights), kind, tree)
    cache = memo("index", 3)
    index = cache.get(key)
    if index is None:
        what = ("Building a k-means tree per glimpse step" if kind == "tree" else "Packing the table's keys")
        with fresh_work("search index"), st.spinner(f"{what} ({len(table):,} keys) ..."):
            index = cache.put(key, StepIndex(table, weights, kind, tree=tree))
    return index


def _checkpoint() -> str:
    """The chosen model's checkpoint folder, as the child processes of ``mbi.runs.tracecache`` load it."""
    return str(models.model_folder(models.current_model_name()))


def lookup_trace(table: Any, split: str, count: int, weights: Sequence[float], kind: str = "brute",
                 tree: TreeConfig | None = None) -> Any:
    """Lookup-only trace of the first ``count`` images of ``split`` (memory, then disk, e.g. left there by the
    table-size curve, then computed in a child process); a failed child ends the page with its error."""
    from mbi.runs.tracecache import checkpoint_trace, trace_path

    weights = tuple(weights)
    key = (models.current_model_key(), len(table), split, int(count), weights, kind, tree)
    cache = memo("trace", 24)
    trace = cache.get(key)
    if trace is not None:
        return trace
    fresh = not trace_path(table, weights, kind, tree, f"{split}:{count}").is_file()
    with fresh_work() if fresh else contextlib.nullcontext():
        bar = st.progress(0.0, text=f"Looking up {count:,} {split} images ({kind} search) ...")
        try:
            trace = checkpoint_trace(_checkpoint(), table, split, int(count), weights, kind, tree,
                                     progress=lambda f, _: bar.progress(min(1.0, f), text=(
                                         f"Looking up {count:,} {split} images ({kind} search) ... {100 * f:.0f}%")))
        except furniture.USER_ERRORS as exc:
            bar.empty()
            st.error(f"The lookups of the {split} images could not be computed: {furniture.friendly(exc)}")
            st.stop()
        bar.empty()
    return cache.put(key, trace)


def ram_test_trace(image: int) -> Any:
    """The RAM's :class:`mbi.model.ramtrace.Trace` of test image ``image`` (a batch of one), read from the trace of
    every test digit (computed once per model in a child process, then on disk); a failed child ends the page."""
    from mbi.runs.tracecache import checkpoint_ram_trace

    count = len(models.dataset().test_y)
    key = (models.current_model_key(), int(image))
    cache = memo("ram_trace", 64)
    found = cache.get(key)
    # One block whether or not the trace is in memory: the page's later elements (its step slider) keep their
    # places from one run to the next, so a widget being used is not drawn anew (and its key presses lost).
    block = st.container()
    if found is None:
        slot = block.empty()
        text = f"Running the RAM on the {count:,} test images (once per model) ..."
        bar = slot.progress(0.0, text=text)
        try:
            found = checkpoint_ram_trace(_checkpoint(), "test", count, slice(int(image), int(image) + 1),
                                         progress=lambda f, msg: bar.progress(min(1.0, f),
                                                                              text=f"{text} {100 * f:.0f}%"))
        except furniture.USER_ERRORS as exc:
            slot.empty()
            st.error(f"The RAM's glimpses could not be computed: {furniture.friendly(exc)}")
            st.stop()
        slot.empty()
        found = cache.put(key, found)
    return found


def _ram_output(name: str, fetch: Callable[[Any, str, int], Any], split: str, count: int) -> Any:
    """What ``fetch`` (a :mod:`mbi.runs.tracecache` function of the RAM pass) gives for the chosen RAM on the first
    ``count`` images of ``split`` (memory, disk, or a child process); a failure ends the page with its reason."""
    key = (models.current_model_key(), split, int(count))
    cache = memo(name, 8)
    found = cache.get(key)
    if found is None:
        try:
            with st.spinner(f"Running the RAM on {count:,} {split} images ..."):
                found = fetch(_checkpoint(), split, int(count))
        except furniture.USER_ERRORS as exc:
            st.error(f"The RAM's answers could not be computed: {furniture.friendly(exc)}")
            st.stop()
        found = cache.put(key, found)
    return found


def ram_predictions(split: str, count: int) -> Any:
    """The chosen RAM's classes for the first ``count`` images of ``split`` (memory, disk, or a child process)."""
    from mbi.runs.tracecache import checkpoint_ram_predictions

    return _ram_output("ram_pred", checkpoint_ram_predictions, split, count)


def ram_logits(split: str, count: int) -> Any:
    """The chosen RAM's class scores ``[count, classes]`` for the first ``count`` images of ``split`` (what the fused
    mixed-MBI fallback combines with the vote's; memory, disk, or a child process)."""
    from mbi.runs.tracecache import checkpoint_ram_logits

    return _ram_output("ram_logits", checkpoint_ram_logits, split, count)


def budget_curve(table: Any, count: int, budgets: Sequence[int], weightings: dict[str, Sequence[float]]) -> Any:
    """The table-size curve on the first ``count`` test images (memory, disk, or a child process, which also leaves
    the whole table's traces for the lookup pages); a failed child ends the page with its error."""
    from mbi.inference.tablesize import budget_curve_path
    from mbi.runs.tracecache import checkpoint_budget_curve

    key = (models.current_model_key(), len(table), count, tuple(sorted(weightings.items())))
    cache = memo("budget_curve", 8)
    points = cache.get(key)
    if points is not None:
        return points
    fresh = not budget_curve_path(table, f"test:{count}", budgets, weightings).is_file()
    bar = st.progress(0.0, text="Scoring each table size ...")
    try:
        with fresh_work() if fresh else contextlib.nullcontext():
            points = checkpoint_budget_curve(_checkpoint(), table, "test", count, budgets, weightings,
                                             progress=lambda f, msg: bar.progress(min(1.0, f), text=f"Scoring: {msg}"))
    except furniture.USER_ERRORS as exc:
        bar.empty()
        st.error(f"The table-size curve could not be computed: {furniture.friendly(exc)}")
        st.stop()
    bar.empty()
    return cache.put(key, points)


def gate_neighbours(table: Any, split: str, count: int, weights: Sequence[float], k: int, kind: str = "brute",
                    tree: TreeConfig | None = None) -> Any:
    """The exact ``k`` nearest rows per step of the trace of the first ``count`` images (memory, disk, computed)."""
    from mbi.runs.gatecache import cached_neighbours, neighbours_path

    weights = tuple(weights)
    key = (models.current_model_key(), len(table), split, int(count), weights, kind, tree, int(k))
    cache = memo("gate_neighbours", 8)
    found = cache.get(key)
    if found is not None:
        return found
    trace = lookup_trace(table, split, count, weights, kind, tree)
    fresh = not neighbours_path(table, weights, kind, tree, f"{split}:{count}", int(k)).is_file()
    index = step_index(table, weights) if fresh else None  # the exact index (the neighbours are exact)
    with fresh_work("nearest-rows search") if fresh else contextlib.nullcontext():
        bar = st.progress(0.0, text=f"Finding the {k} nearest rows of every glimpse for the learned gate ...")
        found = cached_neighbours(table, weights, trace, f"{split}:{count}", int(k), kind, tree, index=index,
                                  progress=lambda f: bar.progress(f, text=f"Finding the {k} nearest rows ... "
                                                                          f"{100 * f:.0f}%"))
        bar.empty()
    return cache.put(key, found)


def recorded_threshold(weights: Sequence[float]) -> float | None:
    """The model's mixed-MBI threshold (``lookup.json``) when ``weights`` are the ones it was chosen with, else None."""
    from dashboard import session_weights

    recorded = models.lookup_settings_of().threshold
    if isinstance(recorded, (int, float)) and tuple(weights) == tuple(session_weights.model_weights()[0]):
        return float(recorded)
    return None
