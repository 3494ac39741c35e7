"""Lookup accuracy when the search runs on the in-memory array model (variation, ADC, encoding).

The exact searchers of :mod:`mbi.search.searchers` compute eq. (1) digitally. Here the leaf search
reads its distances from :class:`mbi.hardware.sram.CircuitTable` instead: the table's keys are
written into 32 x 32 SRAM arrays in binary (the paper's bit-significance precharge) or
thermometer coding, every read-port transistor gets a frozen V_TH offset of
``sigma_vth``, each array's sum-line voltage is digitized by an ``adc_bits`` ADC, and
the digital side weights the parts (a, b, c) and keeps the minimum, as in paper
Sec. III-D step 4.

- :class:`CircuitSearch`: brute force over a set of table rows (one glimpse step's rows).
- :class:`CircuitTreeSearch`: a :class:`mbi.search.searchers.KMeansTree`'s routing stays digital and
  exact; only the leaf scan (<= ``leaf_size`` keys, one array's worth) is analog.
- :func:`circuit_step_index`: a :class:`mbi.inference.lookup.StepIndex` whose searchers use the circuit.
- :func:`accuracy_sweep`: lookup-only accuracy against sigma_VTH and ADC bits, per encoding.

Both searchers combine the parts with :func:`mbi.search.distance.combine` and break ties by the
lowest row, exactly like the digital ones, so without variation, in thermometer coding and
with an ADC that has a code per level they return the very same rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.search.distance import KeyLayout, combine
from mbi.inference.lookup import LookupTrace, StepIndex, lookup_infer
from mbi.memory.lut import LookupTable
from mbi.model.ram import RAM
from mbi.search.searchers import KMeansTree, Searcher, SearchResult, weighted_features
from mbi.hardware.sram import ENCODINGS, CircuitTable, SRAMConfig, key_parts_from_layout

DEFAULT_SIGMAS_MV: tuple[float, ...] = (0.0, 20.0, 40.0, 60.0, 80.0, 100.0)
DEFAULT_ADC_BITS: tuple[int, ...] = (3, 4, 5, 6, 7, 8)
PAPER_SIGMA_MV = 60.0
PAPER_ADC_BITS = 5
_CHUNK_QUERIES = 512  # queries per block in the brute-force scan (bounds the [parts, Q, rows] buffer)
_CHUNK_ROWS = 4096


def _check_circuit(circuit: CircuitTable, layout: KeyLayout, keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` as int64 indices of ``circuit`` holding ``keys``, or a ValueError saying what does not fit."""
    if not isinstance(circuit, CircuitTable):
        raise TypeError(f"circuit must be a CircuitTable, got {type(circuit).__name__}")
    parts = key_parts_from_layout(layout)
    if tuple(circuit.layout.parts) != parts:
        raise ValueError(f"the circuit stores keys of parts {circuit.layout.parts}, but the table's layout has {parts}")
    rows = np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or len(rows) != len(keys):
        raise ValueError(f"rows must list one circuit row per key ({len(keys)}), got shape {rows.shape}")
    if not circuit.holds(keys, rows):
        raise ValueError("the circuit's rows do not hold these keys: build the CircuitTable from the same table "
                         "and pass the keys' row numbers in it")
    return rows


class CircuitSearch(Searcher):
    """Brute force on the array model: every row of ``rows`` of ``circuit`` is matched with the query.

    ``keys`` [R, D] are the keys stored at circuit rows ``rows`` (default: all circuit rows, in
    order); answers index into ``keys``. Distances are the circuit's digitized per-part
    distances combined with ``weights`` like eq. (1); ties go to the lowest row.
    """

    def __init__(self, keys: np.ndarray, layout: KeyLayout, weights: Sequence[float], circuit: CircuitTable,
                 rows: np.ndarray | None = None) -> None:
        super().__init__(keys, layout, weights)
        self.circuit = circuit
        self.circuit_rows = _check_circuit(circuit, layout, self.keys,
                                           np.arange(circuit.n_rows) if rows is None else rows)

    def query(self, queries: np.ndarray) -> SearchResult:
        """Circuit-nearest key of every query; ``comparisons`` = all rows, ``levels`` = 0."""
        queries = self.layout.check_keys(queries, "queries")
        n_q = len(queries)
        index = np.zeros(n_q, dtype=np.int64)
        best = np.full(n_q, np.inf)
        for q0 in range(0, n_q, _CHUNK_QUERIES):
            qs = slice(q0, min(q0 + _CHUNK_QUERIES, n_q))
            block, rng = queries[qs], np.arange(qs.stop - qs.start)
            for r0 in range(0, self.n_rows, _CHUNK_ROWS):
                parts = self.circuit.part_distances(block, self.circuit_rows[r0:r0 + _CHUNK_ROWS])
                d = combine(parts[0], parts[1], parts[2], self.weights)
                i = d.argmin(axis=1)
                v = d[rng, i]
                better = v < best[qs]  # strict: an earlier (lower) row keeps a tie
                index[qs][better], best[qs][better] = r0 + i[better], v[better]
        return SearchResult(index, best, np.full(n_q, self.n_rows, dtype=np.int64), np.zeros(n_q, dtype=np.int64))


class CircuitTreeSearch(Searcher):
    """A k-means tree whose routing is digital and exact while its leaf scan runs on the array model.

    ``tree`` is a built :class:`mbi.search.searchers.KMeansTree` over ``keys``; ``rows`` are those keys' row
    numbers in ``circuit``. Comparisons and levels count like the tree's own (centroids + leaf keys).
    The leaf scan mirrors ``KMeansTree._scan`` (same leaves, same tie rule) with circuit distances.
    """

    def __init__(self, tree: KMeansTree, circuit: CircuitTable, rows: np.ndarray | None = None,
                 checks: int | None = None) -> None:
        if not isinstance(tree, KMeansTree):
            raise TypeError(f"tree must be a KMeansTree, got {type(tree).__name__}")
        super().__init__(tree.keys, tree.layout, tree.weights)
        self.tree = tree
        self.checks = tree.checks if checks is None else int(checks)
        if self.checks < 1:
            raise ValueError(f"checks must be >= 1, got {checks}")
        self.circuit = circuit
        self.circuit_rows = _check_circuit(circuit, tree.layout, self.keys,
                                           np.arange(circuit.n_rows) if rows is None else rows)

    def query(self, queries: np.ndarray) -> SearchResult:
        """Descend digitally, then pick the circuit-nearest key of the reached leaves."""
        queries = self.layout.check_keys(queries, "queries")
        tree, n_q = self.tree, len(queries)
        index, distance = np.empty(n_q, dtype=np.int64), np.empty(n_q)
        comparisons, levels = np.empty(n_q, dtype=np.int64), np.empty(n_q, dtype=np.int64)
        for q0 in range(0, n_q, _CHUNK_ROWS):
            qs = slice(q0, min(q0 + _CHUNK_ROWS, n_q))
            features = weighted_features(queries[qs], self.layout, self.weights)
            leaves, comparisons[qs], levels[qs] = tree._descend(features, self.checks)
            valid = leaves >= 0
            safe = np.maximum(leaves, 0)
            starts = np.where(valid, tree._leaf_start[safe], 0).ravel()
            lengths = np.where(valid, tree._size[safe], 0).ravel()
            per_query = lengths.reshape(leaves.shape).sum(axis=1)
            offsets = np.cumsum(lengths) - lengths
            positions = np.arange(int(lengths.sum())) - np.repeat(offsets - starts, lengths)
            local = tree._order[positions]
            pair_query = np.repeat(np.arange(qs.stop - qs.start), per_query)
            parts = self.circuit.pair_part_distances(queries[qs], pair_query, self.circuit_rows[local])
            d = combine(parts[0], parts[1], parts[2], self.weights)
            segments = np.cumsum(per_query) - per_query
            best = np.minimum.reduceat(d, segments)
            tied = np.where(d == np.repeat(best, per_query), local, np.iinfo(np.int64).max)
            index[qs], distance[qs] = np.minimum.reduceat(tied, segments), best
            comparisons[qs] += per_query
        return SearchResult(index, distance, comparisons, levels)


def circuit_step_index(table: LookupTable, weights: Sequence[float], circuit: CircuitTable,
                       exact_index: StepIndex | None = None) -> StepIndex:
    """A :class:`StepIndex` whose per-step searchers read distances from ``circuit`` (built on ``table.keys``).

    Without ``exact_index`` every step is a :class:`CircuitSearch` (brute force). With a
    tree ``exact_index`` (``StepIndex(table, weights, "tree", ...)``, reusable across circuits)
    each step's tree keeps its digital routing and scans its leaves on the circuit.
    """
    if circuit.n_rows != len(table):
        raise ValueError(f"the circuit holds {circuit.n_rows} rows but the table has {len(table)}; "
                         "build the CircuitTable from table.keys")
    if exact_index is None:
        def factory(t: int, rows: np.ndarray) -> Searcher:
            return CircuitSearch(table.keys[rows], table.layout, weights, circuit, rows)
        return StepIndex(table, weights, "circuit", searcher_factory=factory)
    if exact_index.table is not table or exact_index.kind != "tree":
        raise ValueError("exact_index must be a tree StepIndex built on the same table")
    if tuple(float(w) for w in weights) != exact_index.weights:
        raise ValueError(f"weights {tuple(weights)} differ from the tree's {exact_index.weights}")

    def tree_factory(t: int, rows: np.ndarray) -> Searcher:
        return CircuitTreeSearch(exact_index.searchers[t], circuit, rows)  # type: ignore[arg-type]
    return StepIndex(table, weights, "circuit-tree", searcher_factory=tree_factory)


# --------------------------------------------------------------------------- accuracy sweeps


@dataclass(frozen=True)
class NonidealPoint:
    """Lookup-only accuracy with the search on the array model at one setting.

    ``adc_bits`` None is an ideal converter (the analog value read exactly). Agreement numbers
    compare with the exact digital search of the same kind (brute force or the same tree):
    ``agrees_with_exact`` share of images given the same class; ``same_path`` share of images
    matched to the same row at every step; ``nearest_share`` share of lookups (image x step, on
    the circuit's own trajectory) whose row is at the exact search's eq. (1) distance;
    ``mean_regret`` mean eq. (1) distance of the circuit's row minus the exact one's.
    """

    encoding: str
    sigma_mv: float
    adc_bits: int | None
    accuracy: float
    agrees_with_exact: float
    same_path: float
    nearest_share: float
    mean_regret: float
    seconds: float


@dataclass
class NonidealSweep:
    """All points of an :func:`accuracy_sweep`, the exact baseline and what the arrays look like."""

    images: int
    search: str
    tree: dict[str, int]  # TreeConfig.to_dict() of search='tree', else {}
    weights: tuple[float, float, float]
    seed: int
    config: dict[str, Any]
    exact_accuracy: float
    sigmas_mv: list[float]
    adc_bits: list[int]
    sigma_sweep_adc_bits: int
    adc_sweep_sigmas_mv: list[float]
    arrays: dict[str, list[dict[str, Any]]]  # per encoding: part and levels of each array of a key
    points: list[NonidealPoint] = field(default_factory=list)

    def point(self, encoding: str, sigma_mv: float, adc_bits: int | None) -> NonidealPoint | None:
        """The point measured at this setting, if any."""
        for p in self.points:
            if p.encoding == encoding and p.sigma_mv == sigma_mv and p.adc_bits == adc_bits:
                return p
        return None

    def sigma_series(self) -> dict[str, list[float]]:
        """Accuracy (%) per sigma for each encoding at ``sigma_sweep_adc_bits`` (missing points: NaN)."""
        return {f"{e}, {self.sigma_sweep_adc_bits}-bit ADC": [
            100 * p.accuracy if (p := self.point(e, s, self.sigma_sweep_adc_bits)) else math.nan
            for s in self.sigmas_mv] for e in self.arrays}

    def adc_series(self) -> dict[str, list[float]]:
        """Accuracy (%) per ADC resolution for each encoding and each of ``adc_sweep_sigmas_mv``."""
        return {f"{e}, sigma {s:g} mV": [100 * p.accuracy if (p := self.point(e, s, b)) else math.nan
                                        for b in self.adc_bits]
                for e in self.arrays for s in self.adc_sweep_sigmas_mv}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["points"] = [asdict(p) for p in self.points]
        return out


def array_levels(encoding: str, layout: KeyLayout, cols: int = 32) -> list[dict[str, Any]]:
    """Part and number of distance levels of each array one key occupies in ``encoding``."""
    from mbi.hardware.sram import build_layout

    lay = build_layout(key_parts_from_layout(layout), encoding, cols)
    return [{"part": lay.parts[p].name, "columns": e - s, "levels": lay.array_max_distance(a) + 1}
            for a, (p, s, e) in enumerate(lay.arrays)]


def _eq1_of_rows(table: LookupTable, queries: np.ndarray, rows: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Eq. (1) distance of each query [Q, D] to table row ``rows[i]`` (float64 [Q])."""
    keys = table.keys[rows].astype(np.int64)
    q = queries.astype(np.int64)
    m = [np.abs(q[:, c] - keys[:, c]).sum(axis=1) for c in table.layout.part_cols]
    return combine(m[0], m[1], m[2], weights)


def compare_traces(table: LookupTable, trace: LookupTrace, exact_trace: LookupTrace, exact_index: StepIndex,
                   weights: Sequence[float]) -> dict[str, float]:
    """How a circuit trace's lookups compare with the exact search (see :class:`NonidealPoint`)."""
    found = np.empty(trace.rows.shape)
    best = np.empty(trace.rows.shape)
    for t in range(trace.rows.shape[1]):
        found[:, t] = _eq1_of_rows(table, trace.queries[:, t], trace.rows[:, t], weights)
        rows, _, _ = exact_index.query(t, trace.queries[:, t])
        best[:, t] = _eq1_of_rows(table, trace.queries[:, t], rows, weights)
    return {"agrees_with_exact": float(np.mean(trace.prediction == exact_trace.prediction)),
            "same_path": float(np.mean((trace.rows == exact_trace.rows).all(axis=1))),
            "nearest_share": float(np.mean(found <= best + 1e-9)),
            "mean_regret": float(np.mean(found - best))}


def _check_sweep(images: np.ndarray, labels: np.ndarray, encodings: Sequence[str], sigmas_mv: Sequence[float],
                 adc_bits: Sequence[int], sigma_sweep_adc_bits: int, adc_sweep_sigmas_mv: Sequence[float],
                 search: str, tree: TreeConfig | None) -> None:
    """Every argument of :func:`accuracy_sweep` checked, with errors that name the argument."""
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need at least one image and one label per image, got {len(images)} images and "
                         f"{len(labels)} labels")
    if not encodings or any(e not in ENCODINGS for e in encodings):
        raise ValueError(f"encodings must be a non-empty list of {ENCODINGS}, got {list(encodings)}")
    for name, values in (("sigmas_mv", sigmas_mv), ("adc_sweep_sigmas_mv", adc_sweep_sigmas_mv)):
        for i, s in enumerate(values):
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s <= 300:
                raise ValueError(f"{name}[{i}] = {s!r} is out of range: sigma_VTH must be in [0, 300] mV")
    for name, values in (("adc_bits", adc_bits), ("sigma_sweep_adc_bits", [sigma_sweep_adc_bits])):
        for i, b in enumerate(values):
            if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or not 1 <= b <= 16:
                raise ValueError(f"{name}[{i}] = {b!r} is out of range: ADC resolution must be an integer "
                                 "in [1, 16] bits")
    if search not in ("brute", "tree"):
        raise ValueError(f"search must be 'brute' or 'tree', got {search!r}")
    if tree is not None and search != "tree":
        raise ValueError("tree settings apply only to search='tree'")


def accuracy_sweep(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray, *,
                   weights: Sequence[float] = (1.0, 1.0, 1.0), encodings: Sequence[str] = ENCODINGS,
                   sigmas_mv: Sequence[float] = DEFAULT_SIGMAS_MV, adc_bits: Sequence[int] = DEFAULT_ADC_BITS,
                   sigma_sweep_adc_bits: int = PAPER_ADC_BITS,
                   adc_sweep_sigmas_mv: Sequence[float] = (PAPER_SIGMA_MV,), include_ideal: bool = True,
                   search: str = "brute", tree: TreeConfig | None = None,
                   config: SRAMConfig | None = None, seed: int = 0,
                   progress: Callable[[NonidealPoint, int, int], None] | None = None) -> NonidealSweep:
    """Lookup-only accuracy of ``table`` on ``images`` with the search on the array model.

    Per encoding: accuracy against each of ``sigmas_mv`` (mV) with a ``sigma_sweep_adc_bits`` ADC,
    against each of ``adc_bits`` at each of ``adc_sweep_sigmas_mv``, and (``include_ideal``) with
    neither variation nor ADC, which isolates the encoding. One chip per (encoding, sigma): its
    cells' V_TH are drawn from ``seed`` once and read through every ADC resolution. ``search``
    "brute" scans each step's rows on the circuit; "tree" routes digitally through a k-means tree
    (``tree``, default :class:`mbi.config.TreeConfig`) and scans the leaf on the circuit. Other electrical parameters (e.g. the
    discharge window) come from ``config``. ``progress(point, done, total)`` follows each point.
    """
    images, labels = np.asarray(images), np.asarray(labels)
    sigmas_mv, adc_bits = [float(s) for s in sigmas_mv], [int(b) for b in adc_bits]
    adc_sweep_sigmas_mv = [float(s) for s in adc_sweep_sigmas_mv]
    _check_sweep(images, labels, encodings, sigmas_mv, adc_bits, sigma_sweep_adc_bits, adc_sweep_sigmas_mv,
                 search, tree)
    if table.num_glimpses != model.cfg.num_glimpses:
        raise ValueError(f"table has {table.num_glimpses} glimpse steps but the model takes {model.cfg.num_glimpses}")
    base = config or SRAMConfig()
    weights = tuple(float(w) for w in weights)
    exact_index = StepIndex(table, weights, search, tree=tree)
    exact = lookup_infer(model, table, images, index=exact_index)
    wanted: dict[float, list[int | None]] = {}
    for s in sigmas_mv:
        wanted.setdefault(s, []).append(sigma_sweep_adc_bits)
    for s in adc_sweep_sigmas_mv:
        wanted.setdefault(s, []).extend(adc_bits)
    if include_ideal:
        wanted.setdefault(0.0, []).append(None)
    settings = {s: list(dict.fromkeys(b)) for s, b in sorted(wanted.items())}
    sweep = NonidealSweep(int(len(images)), search, {} if exact_index.tree is None else exact_index.tree.to_dict(), weights, seed, base.to_dict(),
                          float(np.mean(exact.prediction == labels)), sigmas_mv, adc_bits, int(sigma_sweep_adc_bits),
                          adc_sweep_sigmas_mv, {e: array_levels(e, table.layout, base.cols) for e in encodings})
    total = len(encodings) * sum(len(b) for b in settings.values())
    for encoding in encodings:
        for sigma, bits_list in settings.items():
            cfg = replace(base, sigma_vth_v=sigma / 1e3)
            chip = CircuitTable(table.keys, key_parts_from_layout(table.layout), weights=weights, encoding=encoding,
                                config=cfg, seed=seed)
            for bits in bits_list:
                start = time.perf_counter()
                circuit = chip.with_adc_bits(bits)
                index = circuit_step_index(table, weights, circuit, exact_index if search == "tree" else None)
                trace = lookup_infer(model, table, images, index=index)
                stats = compare_traces(table, trace, exact, exact_index, weights)
                point = NonidealPoint(encoding, sigma, bits, float(np.mean(trace.prediction == labels)), **stats,
                                      seconds=time.perf_counter() - start)
                sweep.points.append(point)
                if progress:
                    progress(point, len(sweep.points), total)
            del chip
    return sweep


__all__ = [
    "DEFAULT_ADC_BITS", "DEFAULT_SIGMAS_MV", "CircuitSearch", "CircuitTreeSearch", "NonidealPoint", "NonidealSweep",
    "accuracy_sweep", "array_levels", "circuit_step_index", "compare_traces",
]
