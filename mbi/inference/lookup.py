"""Memorization-based inference: lookups only, and mixed with the RAM.

Lookup-only MBI (paper Fig. 2) runs like the RAM but replaces its arithmetic by
table reads: start at h_0 = 0 and the centre location; at each glimpse the
retina extracts and quantizes the patch at the current location (the sensor,
as in the paper); the query (patch, current hidden state, location) is matched
to the nearest key of that glimpse step's rows; the matched row's value gives
the next hidden state and location; the class is the last matched row's readout.

Mixed MBI (Fig. 5, :mod:`mbi.inference.mixed`): an image is answered by lookups when every step's
matched distance is <= ``threshold``; otherwise the RAM itself answers it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import numpy as np

from mbi.config import RAMConfig, TreeConfig
from mbi.inference.mixed import mixed_curve, threshold_candidates
from mbi.memory.lut import LookupTable, query_key
from mbi.model.sensor import GlimpseSensor
from mbi.search.distance import default_threads
from mbi.search.engine import build_searcher, exact_reference
from mbi.search.exact import PrunedExact
from mbi.search.searchers import Searcher, SearchReport, error_histogram, search_report
from mbi.search.weights import UNWEIGHTED, check_weights
from mbi.validate import check_int, check_number

if TYPE_CHECKING:  # torch comes with a model: building an index or reading a trace does not need it
    from mbi.model.ram import RAM

SearchKind = Literal["brute", "tree"]
SearcherFactory = Callable[[int, np.ndarray], Searcher]
"""``factory(step, rows) -> Searcher`` over the keys ``table.keys[rows]`` (``rows``: global, ascending)."""


class StepIndex:
    """One searcher per glimpse step over that step's rows; answers with global row numbers.

    ``kind`` picks the digital search of :func:`mbi.search.engine.build_searcher` ("brute": exact, or
    "tree": the compiled k-means tree with the settings ``tree``, default :class:`mbi.config.TreeConfig`);
    ``n_threads`` threads share each batch of queries and of glimpses (default: all usable cores).
    ``eps`` > 0 (only with "brute") makes the pruned search (1 + eps)-approximate: an answer's distance is at
    most ``1 + eps`` times the nearest (see :class:`mbi.search.exact.PrunedExact`); 0 is exact.
    ``searcher_factory`` replaces both: it is called once per step with the step number and the step's
    global row indices and must return a :class:`mbi.search.searchers.Searcher` over ``table.keys[rows]``
    whose answers index into ``rows`` (e.g. a search on the in-memory array model,
    :mod:`mbi.hardware.nonideal`); ``kind`` then only labels the index.
    """

    def __init__(self, table: LookupTable, weights: Sequence[float] = UNWEIGHTED, kind: SearchKind | str = "brute",
                 searcher_factory: SearcherFactory | None = None, tree: TreeConfig | None = None,
                 n_threads: int | None = None, eps: float = 0.0) -> None:
        if searcher_factory is None and kind not in ("brute", "tree"):
            raise ValueError(f"search kind must be 'brute' or 'tree', got {kind!r}")
        if searcher_factory is not None and tree is not None:
            raise ValueError("tree settings do not apply with a searcher_factory, which builds its own searchers")
        if searcher_factory is not None and not callable(searcher_factory):
            raise TypeError(f"searcher_factory must be callable (step, rows) -> Searcher, "
                            f"got {type(searcher_factory).__name__}")
        if tree is not None and not isinstance(tree, TreeConfig):
            raise TypeError(f"tree must be a TreeConfig, got {type(tree).__name__}")
        self.table = table
        self.weights = check_weights(weights)
        self.n_threads = default_threads() if n_threads is None else check_int("n_threads", n_threads, 1)
        self.kind = kind
        self.tree = (tree or TreeConfig()) if kind == "tree" and searcher_factory is None else None
        if eps and (kind != "brute" or searcher_factory is not None):
            raise ValueError(f"eps only applies to the 'brute' (pruned) search, not {kind!r}")
        self.eps = check_number("eps", eps, 0.0)
        self.rows: list[np.ndarray] = []
        self.searchers: list[Searcher | None] = []
        for t in range(table.num_glimpses):
            rows = table.rows_of_step(t)
            self.rows.append(rows)
            if len(rows) == 0:
                self.searchers.append(None)
            elif searcher_factory is not None:
                searcher = searcher_factory(t, rows)
                if not isinstance(searcher, Searcher) or searcher.n_rows != len(rows):
                    raise ValueError(f"searcher_factory must return a Searcher over the {len(rows)} rows of step "
                                     f"{t + 1}, got {type(searcher).__name__}"
                                     + (f" over {searcher.n_rows} rows" if isinstance(searcher, Searcher) else ""))
                self.searchers.append(searcher)
            else:
                self.searchers.append(build_searcher(table.keys_of_step(t), table.layout, self.weights, str(kind),
                                                     n_threads=self.n_threads, tree=self.tree, eps=self.eps))

    def reweighted(self, weights: Sequence[float]) -> "StepIndex":
        """This exact index under other eq. (1) ``weights``, with no new build: each step's pruned search shares its
        sorted rows and codes (:meth:`mbi.search.exact.PrunedExact.reweighted`); it answers as an index built with
        ``weights``. Only for exact "brute" indexes whose steps are pruned searches (e.g. not the array model's)."""
        if self.kind != "brute" or self.eps or not all(s is None or isinstance(s, PrunedExact) for s in self.searchers):
            raise ValueError("only an exact 'brute' index can be re-weighted; build a new StepIndex instead")
        return StepIndex(self.table, weights, "brute", n_threads=self.n_threads,
                         searcher_factory=lambda t, _: self.searchers[t].reweighted(weights))

    def query(self, t: int, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest row (global index), its distance and the comparisons made, for step ``t``."""
        searcher = self.searchers[t]
        if searcher is None:
            raise ValueError(f"the table has no rows for glimpse step {t + 1}; distill more rows")
        res = searcher.query(queries)
        return self.rows[t][res.index], res.distance, res.comparisons

    def query_k(self, t: int, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact ``k`` nearest rows (global indices, ``int64 [Q, min(k, n_t)]``) of step ``t`` and their distances.

        Nearest first, ties to the lowest row (:meth:`mbi.search.searchers.Searcher.query_k`); only exact indexes.
        """
        if self.eps:
            raise ValueError(f"the k nearest rows need an exact index; this one is (1 + {self.eps:g})-approximate")
        searcher = self.searchers[t]
        if searcher is None:
            raise ValueError(f"the table has no rows for glimpse step {t + 1}; distill more rows")
        rows, distance = searcher.query_k(queries, k)
        return self.rows[t][rows], distance


@dataclass
class LookupTrace:
    """Per-image, per-step record of a lookup-only inference."""

    locs: np.ndarray  # grid location read at each step [B, T, 2]
    rows: np.ndarray  # matched table row [B, T]
    distance: np.ndarray  # eq. (1) distance of the match [B, T]
    comparisons: np.ndarray  # key comparisons made [B, T]
    readouts: np.ndarray  # class readout of the matched row [B, T]
    queries: np.ndarray  # the query keys [B, T, D]

    @property
    def prediction(self) -> np.ndarray:
        """Lookup-only class: the readout of the last step's matched row."""
        return self.readouts[:, -1]

    @property
    def max_distance(self) -> np.ndarray:
        """Largest matched distance over the steps of each image (what mixed MBI thresholds)."""
        return self.distance.max(axis=1)


def lookup_infer(model: RAM | RAMConfig, table: LookupTable, images: np.ndarray, index: StepIndex | None = None,
                 weights: Sequence[float] = UNWEIGHTED, batch_size: int = 2000) -> LookupTrace:
    """Classify ``images`` (uint8 [B, 28, 28]) by table lookups only; the model serves as the retina.

    The glimpses are read by :class:`mbi.model.sensor.GlimpseSensor` (the retina's quantized
    patch codes, compiled; the same levels as ``model.retina``). The model's configuration alone
    (:class:`mbi.config.RAMConfig`) is enough: then no torch is needed.
    """
    index = index or StepIndex(table, weights)
    cfg = model if isinstance(model, RAMConfig) else model.cfg
    if table.num_glimpses != cfg.num_glimpses:
        raise ValueError(f"table has {table.num_glimpses} glimpse steps but the model takes {cfg.num_glimpses}")
    sensor = GlimpseSensor(model)
    parts = [_lookup_batch(cfg, sensor, table, index, images[s: s + batch_size])
             for s in range(0, len(images), batch_size)]
    return LookupTrace(*(np.concatenate([getattr(p, f) for p in parts])
                         for f in ("locs", "rows", "distance", "comparisons", "readouts", "queries")))


StepAnswer = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""``(t, hidden [B, S], loc [B, 2]) -> (query [B, D], row [B], distance [B], comparisons [B])``: one glimpse step's
lookups for images in these states (:func:`lookup_episode`)."""


def lookup_episode(cfg: RAMConfig, table: LookupTable, n: int, answer: StepAnswer) -> LookupTrace:
    """The lookup-only episode of ``n`` images: from h_0 and the start cell, each step's matched rows (``answer``)
    give the next hidden states and locations (the table's values); returns every step's record, ``[n, T, ...]``."""
    hidden = np.zeros((n, table.layout.hidden_len), dtype=np.uint8)  # h_0, as RAM.initial_state
    loc = np.full((n, 2), cfg.start_cell, dtype=np.uint8)
    out = {k: [] for k in ("locs", "rows", "distance", "comparisons", "readouts", "queries")}
    for t in range(table.num_glimpses):
        query, rows, dist, comps = answer(t, hidden, loc)
        out["locs"].append(loc)
        out["queries"].append(query)
        out["rows"].append(rows)
        out["distance"].append(dist)
        out["comparisons"].append(comps)
        out["readouts"].append(table.readout[rows])
        hidden = table.next_hidden[rows]
        loc = table.next_loc[rows]
    return LookupTrace(*(np.stack(out[k], axis=1) for k in ("locs", "rows", "distance", "comparisons",
                                                            "readouts", "queries")))


def _lookup_batch(cfg: RAMConfig, sensor: GlimpseSensor, table: LookupTable, index: StepIndex,
                  images: np.ndarray) -> LookupTrace:
    def answer(t: int, hidden: np.ndarray, loc: np.ndarray) -> tuple[np.ndarray, ...]:
        query = query_key(sensor.codes(images, loc, index.n_threads), hidden, loc)
        return (query, *index.query(t, query))

    return lookup_episode(cfg, table, len(images), answer)


def evaluate_lookup(
    model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray,
    weights: Sequence[float] = UNWEIGHTED, kind: SearchKind = "brute",
    thresholds: Sequence[float] | str = (), tree: TreeConfig | None = None,
    extra_thresholds: Sequence[float] = (), eps: float = 0.0,
) -> dict:
    """Lookup-only and mixed MBI on one split: accuracies, lookup share, comparisons per query.

    Also the wall seconds of the lookups (``lookup_seconds``, index built beforehand) and of the
    RAM's batched forward on the same images (``ram_seconds``), both on ``threads`` threads
    (torch's thread count).

    ``thresholds="auto"`` tries :func:`threshold_candidates` of this trace; ``extra_thresholds`` are
    added to the curve (e.g. a threshold chosen earlier, to read its exact point). ``eps`` > 0: the
    (1 + eps)-approximate pruned search (:class:`StepIndex`).
    """
    import torch

    from mbi.model.predict import predict

    threads = torch.get_num_threads()  # the RAM's forward and the lookups run on the same threads
    index = StepIndex(table, weights, kind, tree=tree, n_threads=threads, eps=eps)
    start = time.perf_counter()
    trace = lookup_infer(model, table, images, index=index)
    lookup_seconds = time.perf_counter() - start
    if isinstance(thresholds, str):
        if thresholds != "auto":
            raise ValueError(f"thresholds must be numbers or 'auto', got {thresholds!r}")
        thresholds = threshold_candidates(trace)
    thresholds = sorted(set(float(t) for t in thresholds) | set(float(t) for t in extra_thresholds))
    start = time.perf_counter()
    ram_pred = predict(model, images)
    ram_seconds = time.perf_counter() - start
    labels = np.asarray(labels)
    return {
        "lookup_seconds": lookup_seconds,
        "ram_seconds": ram_seconds,
        "threads": threads,
        "images": int(len(labels)),
        "weights": [float(w) for w in weights],
        "search": kind,
        "eps": index.eps,
        "ram_accuracy": float(np.mean(ram_pred == labels)),
        "lookup_accuracy": float(np.mean(trace.prediction == labels)),
        "lookup_agrees_with_ram": float(np.mean(trace.prediction == ram_pred)),
        "comparisons_per_query": float(trace.comparisons.mean()),
        "table_rows": int(len(table)),
        "table_mb": table.storage_bytes()["total_binary"] / 1e6,
        "mixed": [vars(p) for p in mixed_curve(trace, ram_pred, labels, thresholds)],
        **({"tree_vs_brute_force": tree_quality(index, trace)} if kind == "tree" else {}),
    }


def tree_reports(index: StepIndex, trace: LookupTrace) -> list[SearchReport]:
    """Per glimpse step, the tree's answers to ``trace``'s queries against an exhaustive search of the same rows."""
    reports = []
    for t in range(trace.queries.shape[1]):
        searcher = index.searchers[t]
        reference = exact_reference(searcher).query(trace.queries[:, t])
        reports.append(search_report(searcher, trace.queries[:, t], reference=reference))
    return reports


def tree_quality(index: StepIndex, trace: LookupTrace, reports: Sequence[SearchReport] | None = None) -> dict:
    """How the tree's matches compare with brute force on the queries the tree lookup really issued.

    Per glimpse step, every query of ``trace`` is searched again exhaustively over the same rows
    (or pass ``reports`` from :func:`tree_reports` to reuse that search);
    reported: share of queries whose distance equals brute force, mean levels and comparisons,
    the reduction in comparisons, the largest normalized distance error and the histogram of the
    normalized errors over all steps (Fig. 4(c), :func:`mbi.search.searchers.error_histogram`).
    """
    reports = tree_reports(index, trace) if reports is None else reports
    n = sum(r.n_queries for r in reports)
    errors = np.concatenate([r.normalized_error for r in reports])
    counts, edges = error_histogram(errors)
    comparisons = sum(r.mean_comparisons * r.n_queries for r in reports) / n
    rows = sum(r.table_rows * r.n_queries for r in reports) / n
    return {
        "exact_share": float(sum(r.exact_share * r.n_queries for r in reports) / n),
        "mean_levels": float(sum(r.mean_levels * r.n_queries for r in reports) / n),
        "mean_comparisons": float(comparisons),
        "brute_force_comparisons": float(rows),
        "fewer_comparisons": float(rows / comparisons),
        "max_normalized_error": float(errors.max(initial=0.0)),
        "per_step_exact_share": [r.exact_share for r in reports],
        "hist_counts": counts.tolist(),
        "hist_edges": edges.tolist(),
    }
