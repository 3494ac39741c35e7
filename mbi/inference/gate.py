"""A gate for mixed MBI that predicts when a lookup answer is wrong.

Mixed MBI (paper Fig. 5) answers an image by lookups when its largest matched distance is under a
threshold (the *distance gate*, :attr:`mbi.inference.lookup.LookupTrace.max_distance`). Distance
says how far the query is from the memory, not whether the memory's answer is right: a shifted
digit can land close to a row of another class, and a noisy digit far from rows of its own.
The *learned gate* here looks at more of each step's neighbourhood in the table:

* the matched distance of every step;
* the margin between the second-best and the best distance of every step (a near tie means the
  trajectory could as well have gone elsewhere);
* the share of the ``k`` nearest rows of every step that come from training digits of the class the
  lookup finally answers (:attr:`LookupTable.source` and the training labels);
* the *class margin* of every step: how much farther than the best row the nearest of the ``k`` rows
  is whose training digit is of another class than the answer (when all ``k`` agree: the ``k``-th
  distance plus :data:`CENSORED_MARGIN`, a lower bound);
* per step, the share of the ``k`` nearest rows whose readout is the answer, and the *readout margin*
  (the class margin, for the nearest row whose readout is another class);
* the *location agreement* of every step: of the training glimpses the table memorized at the query's
  location (rows weighted by their hit counts), the share from digits of the answer's class;

and combines them with a logistic regression fitted on validation images (target: the lookup-only
answer is wrong). Its score is the predicted probability of a wrong answer; mixed MBI answers by
lookup when the score is at most a threshold. :class:`LearnedGate` is stored as plain numbers
(:meth:`LearnedGate.to_dict`, JSON in the checkpoint's ``lookup.json``), never pickled.

:func:`step_neighbours` is the exact ``k``-nearest search of each step that the features need
(the engine's, :meth:`mbi.search.exact.PrunedExact.query_k`: nearest first, ties to the lowest row as in
:mod:`mbi.search.searchers`); :func:`gate_curve`
and :func:`error_auc` compare any two gates on the same images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from mbi.inference.lookup import LookupTrace, StepIndex
from mbi.memory.lut import LookupTable, table_fingerprint
from mbi.search.weights import check_weights

GATES = ("distance", "learned")
"""The gates mixed MBI can use: the paper's largest matched distance, or :class:`LearnedGate`."""

DEFAULT_K = 16
"""Neighbours per step the learned gate's features look at (16 chosen on validation over 8: issue 16, RESULTS.md)."""

CENSORED_MARGIN = 1.0
"""Added to the ``k``-th distance as a step's class margin when all ``k`` nearest rows agree with the answer
(one unit of eq. (1) with normalized weights; 0 and 3 were worse on validation)."""

STEP_FEATURES = ("distance", "margin", "source_agree", "class_margin", "readout_agree", "readout_margin",
                 "location_agree")
"""The per-step features (``NAME_t`` for glimpse ``t``, 1-based), what :func:`feature_names` gives by default (all
seven chosen on validation: issue 16, RESULTS.md); ``readout_agree_last`` (= ``readout_agree`` of the last step) is
also known, for gates fitted before the per-step readout features."""

LAST_STEP_FEATURE = "readout_agree_last"

VOTE_FEATURE = "vote_margin"
"""The one per-image feature of a gate for voted answers: the learned vote's probability of its answer minus that of
its second class (:func:`mbi.inference.vote.probability_margin`)."""

ANSWERS = ("plain", "vote")
"""Which lookup answers mixed MBI keeps and a learned gate grades: the last glimpse's readout (the paper's), or the
learned vote's (:mod:`mbi.inference.vote`)."""

_QUERY_BLOCK = 2048  # queries per call of the k-nearest search (the progress bar moves after each)


@dataclass(frozen=True)
class Neighbours:
    """The ``k`` nearest table rows of every step's query, nearest first (ties: lowest row).

    Attributes:
        rows: ``int64 [B, T, k]`` global table rows.
        distance: ``float64 [B, T, k]`` their eq. (1) distances (non-decreasing along the last axis).
    """

    rows: np.ndarray
    distance: np.ndarray

    @property
    def k(self) -> int:
        """Neighbours per step."""
        return self.rows.shape[2]


def step_neighbours(table: LookupTable, weights: Sequence[float], queries: np.ndarray, k: int = DEFAULT_K,
                    progress: Callable[[float], None] | None = None, index: StepIndex | None = None) -> Neighbours:
    """Exact ``k`` nearest rows of step ``t``'s rows for ``queries[:, t]`` (``[B, T, D]``, a trace's queries).

    The search is the engine's exact one (:meth:`mbi.inference.lookup.StepIndex.query_k`); ``index`` reuses an
    exact :class:`StepIndex` of ``table`` (or of a table with its fingerprint, e.g. the same file loaded again)
    under ``weights`` (default: one is built). A step with fewer than ``k``
    rows repeats its farthest row. ``progress(fraction)`` after each block of queries.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2 (the gate needs a second-best distance), got {k!r}")
    queries = np.asarray(queries)
    if queries.ndim != 3 or queries.shape[1] != table.num_glimpses:
        raise ValueError(f"queries must be [images, {table.num_glimpses} steps, key], got {queries.shape}")
    weights = check_weights(weights)
    if index is None:
        index = StepIndex(table, weights)
    elif (index.table is not table and table_fingerprint(index.table) != table_fingerprint(table)) \
            or index.weights != weights:
        raise ValueError("index must be a StepIndex of this table under these weights")
    b, steps, _ = queries.shape
    rows = np.empty((b, steps, k), dtype=np.int64)
    dist = np.empty((b, steps, k), dtype=np.float64)
    blocks = range(0, max(b, 1), _QUERY_BLOCK)
    for t in range(steps):
        for i, s in enumerate(blocks):
            found, d = index.query_k(t, queries[s: s + _QUERY_BLOCK, t], k)
            if found.shape[1] < k:  # fewer rows than k: repeat the farthest
                found = np.concatenate([found, np.repeat(found[:, -1:], k - found.shape[1], axis=1)], axis=1)
                d = np.concatenate([d, np.repeat(d[:, -1:], k - d.shape[1], axis=1)], axis=1)
            rows[s: s + len(found), t], dist[s: s + len(found), t] = found, d
            if progress:
                progress((t * len(blocks) + i + 1) / (steps * len(blocks)))
    return Neighbours(rows, dist)


def feature_names(steps: int, kinds: Sequence[str] = STEP_FEATURES) -> list[str]:
    """Names of :func:`gate_features`' columns for a table of ``steps`` glimpse steps: each of ``kinds``
    (of :data:`STEP_FEATURES`) per step."""
    unknown = sorted(set(kinds) - set(STEP_FEATURES))
    if unknown:
        raise ValueError(f"unknown gate feature kinds {unknown}; known: {list(STEP_FEATURES)}")
    return [f"{kind}_{t + 1}" for kind in kinds for t in range(steps)]


def known_features(steps: int) -> list[str]:
    """Every column :func:`gate_features` can compute for a table of ``steps`` glimpse steps."""
    return feature_names(steps) + [LAST_STEP_FEATURE, VOTE_FEATURE]


def _known_name(name: str) -> bool:
    """Whether ``name`` is a :func:`gate_features` column for some number of glimpse steps."""
    kind, _, step = name.rpartition("_")
    return name in (LAST_STEP_FEATURE, VOTE_FEATURE) or (kind in STEP_FEATURES and step.isdigit() and int(step) >= 1)


def _nearest_other(d: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Per image and step, the distance of the nearest neighbour where ``other`` (``bool [B, T, k]``) holds, minus the
    best; censored at the ``k``-th distance + :data:`CENSORED_MARGIN` where none does (``[B, T]``)."""
    nearest = np.take_along_axis(d, other.argmax(axis=2)[:, :, None], axis=2)[:, :, 0]
    return np.where(other.any(axis=2), nearest, d[:, :, -1] + CENSORED_MARGIN) - d[:, :, 0]


def location_agreement(trace: LookupTrace, table: LookupTable, train_labels: np.ndarray,
                       answer: np.ndarray | None = None) -> np.ndarray:
    """``float64 [B, T]``: of the table's step-``t`` rows at the location of image ``b``'s query ``t`` (weighted by
    :attr:`LookupTable.count`, the training glimpses each row memorized), the share whose training digit
    (``train_labels[table.source]``) is of the answer (``answer`` ``[B]``, default the lookup's,
    :attr:`LookupTrace.prediction`); 0 where no row is at that location."""
    layout = table.layout
    loc_cols = layout.part_cols[2]
    levels = layout.loc_levels
    code = lambda keys: keys[..., loc_cols].astype(np.int64) @ np.array([levels, 1])  # noqa: E731 - (row, col) -> cell
    classes = np.asarray(train_labels).astype(np.int64)[table.source]
    pred = (trace.prediction if answer is None else np.asarray(answer)).astype(np.int64)
    n_classes = int(max(classes.max(initial=0), pred.max(initial=0))) + 1
    out = np.zeros(trace.distance.shape, dtype=np.float64)
    for t in range(trace.distance.shape[1]):
        rows = table.rows_of_step(t)
        hist = np.zeros((levels * levels, n_classes))
        np.add.at(hist, (code(table.keys[rows]), classes[rows]), table.count[rows])
        q = code(trace.queries[:, t])
        out[:, t] = hist[q, pred] / np.maximum(hist[q].sum(axis=1), 1)
    return out


def gate_features(trace: LookupTrace, neighbours: Neighbours, table: LookupTable,
                  train_labels: np.ndarray, names: Sequence[str] | None = None,
                  answer: np.ndarray | None = None, vote_margin: np.ndarray | None = None) -> np.ndarray:
    """The learned gate's inputs, ``float64 [B, F]``: the columns ``names`` (default :func:`feature_names`).

    ``train_labels`` are the classes of the training digits the table was distilled from
    (``table.source`` indexes them). The agreements and margins are with ``answer`` (``int [B]``, the class
    mixed MBI would answer by lookup; default the plain lookup's, :attr:`LookupTrace.prediction`; the learned
    vote's answers for a gate of voted answers); the column :data:`VOTE_FEATURE` is ``vote_margin`` (``float [B]``,
    needed only when it is asked for). The margin is second-best minus best exact distance; the class
    (readout) margin the distance of the nearest of the ``k`` rows from a digit of another class than the
    answer (with another readout) minus the best (censored at the ``k``-th distance + :data:`CENSORED_MARGIN`);
    the location agreement :func:`location_agreement`.
    """
    b, steps = trace.distance.shape
    if neighbours.rows.shape[:2] != (b, steps):
        raise ValueError(f"neighbours are for {neighbours.rows.shape[:2]} (images, steps), the trace {(b, steps)}")
    names = feature_names(steps) if names is None else list(names)
    known = set(known_features(steps))
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown gate features {unknown} for a table of {steps} glimpse steps; known: "
                         f"{known_features(steps)}")
    train_labels = np.asarray(train_labels)
    if len(table.source) and int(table.source.max()) >= len(train_labels):
        raise ValueError(f"train_labels has {len(train_labels)} classes but the table's rows come from training "
                         f"digit {int(table.source.max())}: pass the labels of the split the table was distilled from")
    for name, given in (("answer", answer), ("vote_margin", vote_margin)):
        if given is not None and np.shape(given) != (b,):
            raise ValueError(f"{name} must hold one number per image ({b}), got shape {np.shape(given)}")
    if VOTE_FEATURE in names and vote_margin is None:
        raise ValueError(f"the gate feature {VOTE_FEATURE!r} needs the learned vote's margins (vote_margin)")
    answer = trace.prediction if answer is None else np.asarray(answer)
    pred = answer.astype(np.int64)[:, None]
    d = neighbours.distance
    agree = train_labels[table.source[neighbours.rows]] == pred[:, :, None]  # [B, T, k]
    readout_agree = table.readout[neighbours.rows] == pred[:, :, None]  # [B, T, k]
    kinds = {name.rsplit("_", 1)[0] for name in names if name != VOTE_FEATURE}
    per_step = {
        "distance": lambda: trace.distance.astype(np.float64),
        "margin": lambda: d[:, :, 1] - d[:, :, 0],
        "source_agree": lambda: agree.mean(axis=2),
        "class_margin": lambda: _nearest_other(d, ~agree),
        "readout_agree": lambda: readout_agree.mean(axis=2),
        "readout_margin": lambda: _nearest_other(d, ~readout_agree),
        "location_agree": lambda: location_agreement(trace, table, train_labels, answer),
    }
    values = {kind: make() for kind, make in per_step.items() if kind in kinds}
    columns = []
    for name in names:
        if name == LAST_STEP_FEATURE:
            columns.append(readout_agree[:, -1].mean(axis=1))
        elif name == VOTE_FEATURE:
            columns.append(np.asarray(vote_margin, dtype=np.float64))
        else:
            kind, t = name.rsplit("_", 1)
            columns.append(values[kind][:, int(t) - 1])
    return np.stack(columns, axis=1)


@dataclass(frozen=True)
class LearnedGate:
    """Logistic regression on standardized :func:`gate_features`: P(the lookup answer is wrong).

    ``score(x) = 1 / (1 + exp(-(((x - mean) / scale) @ coef + intercept)))``.

    ``answers`` (of :data:`ANSWERS`) are the lookup answers it predicts the errors of: ``"plain"`` (the last glimpse's
    readout) or ``"vote"``, then ``vote`` is the digest of the learned vote
    (:attr:`mbi.inference.vote.LearnedVote.digest`) whose answers on validation, out of fold, it was fitted on.
    ``table`` is the fingerprint (:func:`mbi.memory.lut.table_fingerprint`) of the table whose lookups it was fitted
    on ('' for gates recorded before it was kept): :meth:`check_table` refuses another table's lookups.
    """

    features: tuple[str, ...]
    k: int
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    fitted_on: str = ""  # what it was fitted on, e.g. "val:10000"
    answers: str = "plain"
    vote: str = ""
    table: str = ""

    def __post_init__(self) -> None:
        n = len(self.features)
        if not (len(self.mean) == len(self.scale) == len(self.coef) == n) or n == 0:
            raise ValueError(f"a learned gate needs one mean, scale and coefficient per feature ({n} features)")
        if any(not np.isfinite(v) for v in (*self.mean, *self.scale, *self.coef, self.intercept)) \
                or any(s <= 0 for s in self.scale):
            raise ValueError("a learned gate's numbers must be finite and its scales > 0")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 2:
            raise ValueError(f"a learned gate's k must be an integer >= 2, got {self.k!r}")
        if self.answers not in ANSWERS:
            raise ValueError(f"a learned gate's answers must be one of {list(ANSWERS)}, got {self.answers!r}")
        if (self.answers == "vote") != bool(self.vote):
            raise ValueError("a learned gate names the digest of its vote exactly when it grades voted answers")

    @classmethod
    def fit(cls, features: np.ndarray, wrong: np.ndarray, names: Sequence[str], k: int, fitted_on: str = "",
            c: float = 1.0, vote: str = "", table: str = "") -> "LearnedGate":
        """Fit on ``features`` ``[B, F]`` and ``wrong`` (``bool [B]``: the lookup answer was wrong); ``vote``: the
        digest of the learned vote whose answers ``wrong`` grades (none: plain lookup answers); ``table``: the
        fingerprint of the table whose lookups ``features`` describe.

        L2-regularized logistic regression (scikit-learn, ``C = c``, class weights balanced so the
        few wrong answers count as much as the many right ones).
        """
        from sklearn.linear_model import LogisticRegression

        x, y = np.asarray(features, dtype=np.float64), np.asarray(wrong, dtype=bool)
        if x.ndim != 2 or x.shape[1] != len(names) or len(x) != len(y):
            raise ValueError(f"features must be [images, {len(names)}] with one target per image, "
                             f"got {x.shape} and {y.shape}")
        if y.all() or not y.any():
            raise ValueError("the gate needs both right and wrong lookup answers to learn from; use more images")
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        model.fit((x - mean) / scale, y)
        return cls(tuple(names), int(k), tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                   tuple(float(v) for v in model.coef_[0]), float(model.intercept_[0]), fitted_on,
                   "vote" if vote else "plain", vote, table)

    def check_table(self, table: LookupTable) -> None:
        """ValueError unless this gate was fitted on ``table``'s lookups (a gate recorded without its table's
        fingerprint is taken as fitted on the table it is recorded for)."""
        found = table_fingerprint(table)
        if self.table and self.table != found:
            raise ValueError(f"the recorded learned gate was fitted on table {self.table}, not on this table ({found}); "
                             "fit one for this table on validation with `python -m mbi gate CHECKPOINT --fit --record` "
                             "(with the same --table/--table-shifts)")

    def score(self, features: np.ndarray) -> np.ndarray:
        """P(wrong) per image, ``float64 [B]``, for ``features`` ``[B, F]`` in this gate's feature order."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"this gate takes {len(self.features)} features per image, got shape {x.shape}")
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict:
        """Plain numbers for JSON."""
        return {"features": list(self.features), "k": self.k, "mean": list(self.mean), "scale": list(self.scale),
                "coef": list(self.coef), "intercept": self.intercept, "fitted_on": self.fitted_on,
                **({"answers": self.answers, "vote": self.vote} if self.answers == "vote" else {}),
                **({"table": self.table} if self.table else {})}

    @classmethod
    def from_dict(cls, data: dict) -> "LearnedGate":
        """Read :meth:`to_dict`'s output back; a malformed entry (missing or non-finite numbers, feature names that are
        not distinct :func:`gate_features` columns) is a ValueError that says what to do."""
        try:
            gate = cls(tuple(str(f) for f in data["features"]), data["k"], tuple(float(v) for v in data["mean"]),
                       tuple(float(v) for v in data["scale"]), tuple(float(v) for v in data["coef"]),
                       float(data["intercept"]), str(data.get("fitted_on", "")), str(data.get("answers", "plain")),
                       str(data.get("vote", "")), str(data.get("table", "")))
            bad = [f for f in gate.features if not _known_name(f)]
            if bad or len(set(gate.features)) != len(gate.features):
                raise ValueError(f"features must be distinct names KIND_STEP (KIND of {list(STEP_FEATURES)}, STEP from "
                                 f"1), {LAST_STEP_FEATURE!r} or {VOTE_FEATURE!r}, got {bad or list(gate.features)}")
            if VOTE_FEATURE in gate.features and gate.answers != "vote":
                raise ValueError(f"only a gate of voted answers can use {VOTE_FEATURE!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the recorded learned gate is malformed ({exc}); fit it again with "
                             "`python -m mbi gate CHECKPOINT --fit`") from exc
        return gate


def out_of_fold_scores(features: np.ndarray, wrong: np.ndarray, names: Sequence[str], k: int, folds: int = 5,
                       seed: int = 0, c: float = 1.0) -> np.ndarray:
    """Each image's score from a :class:`LearnedGate` fitted on the other ``folds - 1`` folds (``float64 [B]``).

    What a threshold is chosen on, and what a validation AUC is measured on, so that the images the
    gate was fitted on do not grade it.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    x, y = np.asarray(features, dtype=np.float64), np.asarray(wrong, dtype=bool)
    part = np.random.default_rng(seed).permutation(len(x)) % folds
    out = np.empty(len(x), dtype=np.float64)
    for f in range(folds):
        held = part == f
        out[held] = LearnedGate.fit(x[~held], y[~held], names, k, c=c).score(x[held])
    return out


def wrong_answers(trace: LookupTrace, labels: np.ndarray) -> np.ndarray:
    """``bool [B]``: the lookup-only answer differs from the label (what a gate should predict)."""
    return trace.prediction != np.asarray(labels)


def error_auc(score: np.ndarray, wrong: np.ndarray) -> float:
    """ROC AUC of ``score`` (higher = more likely wrong) for ``wrong``: 0.5 is chance, 1.0 a perfect gate."""
    from sklearn.metrics import roc_auc_score

    wrong = np.asarray(wrong, dtype=bool)
    if wrong.all() or not wrong.any():
        raise ValueError("ROC AUC needs both right and wrong lookup answers among the images")
    return float(roc_auc_score(wrong, np.asarray(score, dtype=np.float64)))


@dataclass(frozen=True)
class GatePoint:
    """Mixed MBI when the images whose gate score is <= ``threshold`` are answered by lookup."""

    threshold: float
    lookup_share: float
    accuracy: float


def gate_curve(score: np.ndarray, lookup_pred: np.ndarray, ram_pred: np.ndarray,
               labels: np.ndarray) -> list[GatePoint]:
    """Mixed MBI at every distinct threshold of ``score`` (plus answering none by lookup), by increasing share.

    ``score`` is any gate's per-image score (lower = answer by lookup): the distance gate's
    largest matched distance or :meth:`LearnedGate.score`.
    """
    score, labels = np.asarray(score, dtype=np.float64), np.asarray(labels)
    n = len(score)
    if not (len(lookup_pred) == len(ram_pred) == len(labels) == n) or n == 0:
        raise ValueError("score, predictions and labels must be non-empty and of one length")
    order = np.argsort(score, kind="stable")
    s = score[order]
    lookup_ok = (np.asarray(lookup_pred) == labels)[order]
    ram_ok = (np.asarray(ram_pred) == labels)[order]
    # answering the first m (sorted) images by lookup: lookup right among them + RAM right among the rest
    right = np.concatenate([[0], np.cumsum(lookup_ok)]) + np.concatenate([[0], np.cumsum(ram_ok[::-1])])[::-1]
    ends = np.append(np.flatnonzero(np.diff(s) > 0) + 1, n)  # m at the end of each group of equal scores
    points = [GatePoint(float(s[0]) - 1.0, 0.0, float(right[0] / n))]
    points += [GatePoint(float(s[m - 1]), m / n, float(right[m] / n)) for m in ends]
    return points


def accuracy_at_share(points: Sequence[GatePoint], share: float) -> GatePoint:
    """The point of a :func:`gate_curve` with the smallest lookup share >= ``share`` (0..1)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    return min((p for p in points if p.lookup_share >= share - 1e-12), key=lambda p: p.lookup_share)


def largest_share(points: Sequence[GatePoint], min_accuracy: float) -> float:
    """The largest share answered by lookup, in whole percent (rounded down), at which a :func:`gate_curve` is at
    least ``min_accuracy`` accurate; ValueError when no share of at least 1% is."""
    ok = [p.lookup_share for p in points if p.accuracy >= min_accuracy]
    share = math.floor(100 * max(ok, default=0.0) + 1e-9) / 100
    if share < 0.01:
        raise ValueError(f"mixed MBI reaches {min_accuracy:.2%} at no share of at least 1% by lookup on these images; "
                         "ask for less accuracy")
    return share


def share_threshold(points: Sequence[GatePoint], share: float) -> float:
    """The threshold of :func:`accuracy_at_share` (to carry a share chosen on validation to other images)."""
    return accuracy_at_share(points, share).threshold


def gated_predictions(score: np.ndarray, lookup_pred: np.ndarray, ram_pred: np.ndarray,
                      threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Mixed-MBI classes and the answered-by-lookup mask when images with ``score <= threshold`` go to lookup."""
    by_lookup = np.asarray(score) <= float(threshold)
    return np.where(by_lookup, lookup_pred, ram_pred), by_lookup
