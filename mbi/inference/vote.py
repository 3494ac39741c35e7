"""A learned vote for lookup-only answers: a small linear layer over each glimpse's ``k`` nearest table rows.

Plain lookup-only MBI answers with the readout of the last glimpse's matched row
(:attr:`mbi.inference.lookup.LookupTrace.prediction`). The *learned vote* answers instead with a
10-class multinomial logistic regression over what the lookups already found, per image:

* per glimpse ``t`` and class ``c``, the share of the ``k`` nearest step-``t`` rows whose training digit
  (:attr:`LookupTable.source` and the training labels) is of class ``c`` (``source_share``);
* the same share for the rows' readouts (``readout_share``);
* the plain lookup answer, one-hot (``answer``);
* per glimpse and class, how much farther than the best row the nearest of the ``k`` rows of that class is
  (``class_gap``; censored at the ``k``-th distance + :data:`mbi.inference.gate.CENSORED_MARGIN` when none of
  the ``k`` is of that class).

That is ``F = 3 T C + C`` inputs (130 for 4 glimpses and 10 classes), standardized with the fitting set's mean
and scale, times a ``[C, F]`` matrix plus ``C`` intercepts (1,310 numbers for the shipped model): at inference
plain numpy (:meth:`LearnedVote.predict`: standardize, one matrix product, argmax), scikit-learn only to fit.
The neighbours are the learned gate's (:func:`mbi.inference.gate.step_neighbours`): a second exact ``k``-nearest
search per glimpse beside the lookup's own.

The vote is fitted on validation digits (:func:`choose_c` picks the regularization by out-of-fold accuracy) and
recorded beside its checkpoint as ``vote.json``, one file per table recipe (:func:`vote_file`, :func:`write_vote`,
:func:`read_vote`): plain numbers with a
digest of them, tied to the table (fingerprint) and eq. (1) weights it was fitted with
(:meth:`LearnedVote.check_table`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mbi.inference.gate import CENSORED_MARGIN, Neighbours
from mbi.inference.lookup import LookupTrace
from mbi.memory.lut import LookupTable, table_fingerprint
from mbi.memory.recipe import TableRecipe
from mbi.search.weights import check_weights
from mbi.store import atomic_write_json, read_json

CLASSES = 10
"""Classes the vote chooses among (both datasets of :mod:`mbi.data` have 10)."""

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
"""Inverse L2 strengths :func:`choose_c` tries unless told others."""

FOLDS = 5
"""Folds of the out-of-fold accuracy :func:`choose_c` chooses ``C`` by."""

VOTE_FILE = "vote.json"
"""The recorded vote of the paper's table (no shifted replays) in a checkpoint folder (:func:`vote_file`)."""

FIT_COMMAND = "python -m mbi vote CHECKPOINT --fit --record"
"""What to run when a recorded vote is missing, damaged or for another table (with ``--table-shifts`` for the table
of another recipe)."""


def vote_file(recipe: TableRecipe = TableRecipe()) -> str:
    """The file name of the vote recorded for a checkpoint's full table of ``recipe``: one vote per table, since a
    vote is fitted on one table's neighbours (``vote.json`` for the paper's table, ``vote-shift1px.json`` for the
    table with one-pixel shifted replays, :attr:`TableRecipe.suffix`)."""
    return f"vote{recipe.suffix}.json"

def feature_names(steps: int, classes: int = CLASSES) -> list[str]:
    """Names of :func:`vote_features`' ``3 * steps * classes + classes`` columns, in order: ``source_share_T_C``,
    ``readout_share_T_C`` (glimpse ``T`` from 1, class ``C`` from 0), ``answer_C``, ``class_gap_T_C``."""
    per_step = lambda kind: [f"{kind}_{t + 1}_{c}" for t in range(steps) for c in range(classes)]  # noqa: E731
    return per_step("source_share") + per_step("readout_share") + [f"answer_{c}" for c in range(classes)] \
        + per_step("class_gap")


def vote_features(trace: LookupTrace, neighbours: Neighbours, table: LookupTable, train_labels: np.ndarray,
                  classes: int = CLASSES) -> np.ndarray:
    """The vote's inputs, ``float64 [B, 3 T C + C]`` in :func:`feature_names`' order.

    ``trace``: the lookup-only trace of ``B`` images over ``T`` glimpses; ``neighbours``: the ``k`` exact nearest
    rows of each of its queries (``rows``/``distance`` ``[B, T, k]``, nearest first); ``train_labels``: the classes
    of the training digits the table was distilled from (``table.source`` indexes them).
    """
    b, steps = trace.distance.shape
    if neighbours.rows.shape[:2] != (b, steps):
        raise ValueError(f"neighbours are for {neighbours.rows.shape[:2]} (images, steps), the trace {(b, steps)}")
    train_labels = np.asarray(train_labels).astype(np.int64)
    if len(table.source) and int(table.source.max()) >= len(train_labels):
        raise ValueError(f"train_labels holds {len(train_labels)} digits' classes but the table's rows come from "
                         f"training digit {int(table.source.max())}: pass the labels of the split the table was "
                         "distilled from")
    source = train_labels[table.source[neighbours.rows]]  # [B, T, k]
    readout = table.readout[neighbours.rows].astype(np.int64)  # [B, T, k]
    answer = trace.prediction.astype(np.int64)  # [B]
    for name, values in (("training labels", source), ("readouts", readout), ("lookup answers", answer)):
        if values.size and (values.min() < 0 or values.max() >= classes):
            raise ValueError(f"the {name} must be classes 0..{classes - 1}, got "
                             f"{int(values.min())}..{int(values.max())}")
    c = np.arange(classes)
    is_class = source[..., None] == c  # [B, T, k, C]
    d = neighbours.distance.astype(np.float64)  # [B, T, k]
    censored = d[:, :, -1] + CENSORED_MARGIN  # [B, T]
    nearest = np.where(is_class, d[..., None], np.inf).min(axis=2)  # [B, T, C]
    gap = np.where(is_class.any(axis=2), nearest, censored[..., None]) - d[:, :, :1]  # [B, T, C]
    return np.concatenate([
        is_class.mean(axis=2).reshape(b, -1),
        (readout[..., None] == c).mean(axis=2).reshape(b, -1),
        (answer[:, None] == c).astype(np.float64),
        gap.reshape(b, -1),
    ], axis=1)


def _fit_numbers(features: np.ndarray, labels: np.ndarray, c: float, n_features: int,
                 classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean ``[F]``, scale ``[F]``, coefficients ``[classes, F]`` and intercepts ``[classes]`` of an L2-regularized
    multinomial logistic regression (scikit-learn's lbfgs, ``C = c``) on ``features`` ``[B, F]`` standardized by their
    mean and standard deviation over these images (1 where a column is constant), for the classes ``labels`` ``[B]``."""
    from sklearn.linear_model import LogisticRegression

    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels).astype(np.int64)
    if x.ndim != 2 or x.shape[1] != n_features or len(x) != len(y):
        raise ValueError(f"features must be [images, {n_features}] with one label per image, got {x.shape} and "
                         f"{y.shape}")
    missing = sorted(set(range(classes)) - set(y.tolist()))
    extra = sorted(set(y.tolist()) - set(range(classes)))
    if missing or extra:
        raise ValueError(f"the vote needs digits of every class 0..{classes - 1} to learn from; "
                         + (f"none of class {missing}: use more images" if missing else f"got classes {extra}"))
    if not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
        raise ValueError(f"C must be a positive number, got {c!r}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=float(c), max_iter=3000).fit((x - mean) / scale, y)
    return mean, scale, model.coef_, model.intercept_


def _logits(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``((x - mean) / scale) @ coef.T + intercept``: ``[B, classes]`` for ``x`` ``[B, F]``."""
    return ((x - mean) / scale) @ coef.T + intercept


def _digest(numbers: Mapping[str, Any]) -> str:
    """SHA-256 (16 hex digits) of ``numbers`` as canonical JSON: what :meth:`LearnedVote.from_dict` checks."""
    return hashlib.sha256(json.dumps(numbers, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LearnedVote:
    """Multinomial logistic regression on standardized :func:`vote_features`: the class a lookup answers with.

    ``predict(x) = argmax(((x - mean) / scale) @ coef.T + intercept)`` for ``x`` ``[B, F]``, ``F = 3 steps classes +
    classes``; ``coef`` is ``[classes, F]`` (row-major tuples), ``intercept`` ``[classes]``.

    Attributes:
        steps, classes, k: glimpse steps, classes and neighbours per step the features are built from.
        c: the inverse L2 strength it was fitted with; ``curve``: out-of-fold accuracy per ``C`` tried
            (``{"0.1": 0.9695, ...}``, what ``c`` was chosen by, over every fitting row); ``accuracy``: out-of-fold
            accuracy at ``c`` per group of its fitting rows when it was fitted on more than clean digits
            (``{"clean": 0.9763, "shift 1 px": 0.9721, ...}``; empty for a vote of clean digits, whose ``curve`` says it).
        table, weights: fingerprint (:func:`mbi.memory.lut.table_fingerprint`) and eq. (1) weights of the table
            whose neighbours it was fitted on; ``fitted_on``: the images, e.g. ``"val:10000"``.
    """

    steps: int
    classes: int
    k: int
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[tuple[float, ...], ...]
    intercept: tuple[float, ...]
    c: float
    table: str
    weights: tuple[float, float, float]
    fitted_on: str = ""
    curve: Mapping[str, float] = field(default_factory=dict)
    accuracy: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("steps", "classes", "k"):
            value = getattr(self, name)
            low = 2 if name in ("classes", "k") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"a learned vote's {name} must be an integer >= {low}, got {value!r}")
        n = self.n_features
        if len(self.mean) != n or len(self.scale) != n or len(self.coef) != self.classes \
                or any(len(row) != n for row in self.coef) or len(self.intercept) != self.classes:
            raise ValueError(f"a learned vote over {self.steps} steps and {self.classes} classes needs {n} means and "
                             f"scales, a {self.classes} x {n} coefficient matrix and {self.classes} intercepts")
        numbers = (*self.mean, *self.scale, *(v for row in self.coef for v in row), *self.intercept, self.c,
                   *self.curve.values(), *self.accuracy.values())
        if any(not math.isfinite(v) for v in numbers) or any(s <= 0 for s in self.scale) or self.c <= 0:
            raise ValueError("a learned vote's numbers must be finite, its scales and C > 0")
        check_weights(self.weights)

    @property
    def n_features(self) -> int:
        """``3 * steps * classes + classes``: the columns :func:`vote_features` gives."""
        return 3 * self.steps * self.classes + self.classes

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, *, steps: int, k: int, c: float, table: str,
            weights: Sequence[float], classes: int = CLASSES, fitted_on: str = "",
            curve: Mapping[str, float] | None = None,
            accuracy: Mapping[str, float] | None = None) -> "LearnedVote":
        """Fit on ``features`` ``[B, F]`` (:func:`vote_features`) and the true classes ``labels`` ``[B]``.

        L2-regularized multinomial logistic regression (scikit-learn's lbfgs, ``C = c``) on the features
        standardized by their mean and standard deviation over these images (1 where a column is constant).
        """
        n = 3 * steps * classes + classes
        mean, scale, coef, intercept = _fit_numbers(features, labels, c, n, classes)
        return cls(int(steps), int(classes), int(k), tuple(float(v) for v in mean), tuple(float(v) for v in scale),
                   tuple(tuple(float(v) for v in row) for row in coef), tuple(float(v) for v in intercept),
                   float(c), str(table), tuple(float(w) for w in check_weights(weights)), fitted_on,
                   dict(curve or {}), dict(accuracy or {}))

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Class scores (logits), ``float64 [B, classes]``, for ``features`` ``[B, F]``."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"this vote takes {self.n_features} features per image, got shape {x.shape}")
        return _logits(x, np.asarray(self.mean), np.asarray(self.scale), np.asarray(self.coef),
                       np.asarray(self.intercept))

    @property
    def digest(self) -> str:
        """The digest :meth:`to_dict` records (what a gate of this vote's answers names as its ``vote``)."""
        return self.to_dict()["digest"]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The voted class per image, ``int64 [B]`` (ties: the lowest class)."""
        return self.scores(features).argmax(axis=1).astype(np.int64)

    def check_table(self, table: LookupTable, weights: Sequence[float], k: int | None = None) -> None:
        """ValueError unless ``table`` (its fingerprint), ``weights`` and ``k`` (when given) are the ones this vote was
        fitted with."""
        wanted = tuple(float(w) for w in check_weights(weights))
        if table.num_glimpses != self.steps:
            raise ValueError(f"the recorded vote is for {self.steps} glimpse steps, the table has {table.num_glimpses}")
        if table_fingerprint(table) != self.table or not np.allclose(wanted, self.weights, rtol=0, atol=1e-12):
            raise ValueError(f"the recorded vote was fitted on table {self.table} with weights {list(self.weights)}, "
                             f"not on this table ({table_fingerprint(table)}) with {list(wanted)}; fit it again with "
                             f"`{FIT_COMMAND}` (with the same --table/--weights)")
        if k is not None and k != self.k:
            raise ValueError(f"the recorded vote looks at k={self.k} neighbours, not {k}")

    def answers(self, trace: LookupTrace, neighbours: Neighbours, table: LookupTable,
                train_labels: np.ndarray) -> np.ndarray:
        """The voted class of each of ``trace``'s images, ``int64 [B]`` (``neighbours``: its ``k`` nearest rows)."""
        if neighbours.k != self.k:
            raise ValueError(f"the recorded vote looks at k={self.k} neighbours, got {neighbours.k}")
        return self.predict(vote_features(trace, neighbours, table, train_labels, self.classes))

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON, with ``digest`` over all of them."""
        out: dict[str, Any] = {"steps": self.steps, "classes": self.classes, "k": self.k, "mean": list(self.mean),
                               "scale": list(self.scale), "coef": [list(row) for row in self.coef],
                               "intercept": list(self.intercept), "c": self.c, "table": self.table,
                               "weights": list(self.weights), "fitted_on": self.fitted_on, "curve": dict(self.curve)}
        if self.accuracy:  # only votes fitted on shifted digits too have it (older files' digests stay as they were)
            out["accuracy"] = dict(self.accuracy)
        return {**out, "digest": _digest(out)}

    @classmethod
    def from_dict(cls, data: Any, where: str = VOTE_FILE) -> "LearnedVote":
        """Read :meth:`to_dict`'s output back; anything else (missing, mistyped or non-finite numbers, shapes that do
        not fit, numbers changed after fitting: the digest differs) is a ValueError naming ``where`` and what to do."""
        try:
            if not isinstance(data, dict):
                raise TypeError(f"it holds a {type(data).__name__}, not a JSON object")
            body = {k: v for k, v in data.items() if k != "digest"}
            if "digest" not in data or _digest(body) != data["digest"]:
                raise ValueError("its numbers do not match its digest: it was changed after it was fitted or is "
                                 "damaged")
            ints = {name: data[name] for name in ("steps", "classes", "k")}
            if any(isinstance(v, bool) or not isinstance(v, int) for v in ints.values()):
                raise TypeError(f"steps, classes and k must be integers, got {ints}")
            vote = cls(ints["steps"], ints["classes"], ints["k"], tuple(float(v) for v in data["mean"]),
                       tuple(float(v) for v in data["scale"]),
                       tuple(tuple(float(v) for v in row) for row in data["coef"]),
                       tuple(float(v) for v in data["intercept"]), float(data["c"]), str(data["table"]),
                       tuple(float(w) for w in data["weights"]), str(data["fitted_on"]),
                       {str(s): float(a) for s, a in data["curve"].items()},
                       {str(s): float(a) for s, a in data.get("accuracy", {}).items()})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{where} is not a recorded learned vote ({exc}); fit it again with `{FIT_COMMAND}`") \
                from exc
        return vote


def fold_parts(n: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """``int64 [n]``: each image's fold, a seeded random permutation of the images modulo ``folds``."""
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    return np.random.default_rng(seed).permutation(n) % folds


def row_folds(rows: int, folds: int = FOLDS, seed: int = 0, digits: np.ndarray | None = None) -> np.ndarray:
    """``int64 [rows]``: the fold of each fitting row. Without ``digits`` a row is a digit (:func:`fold_parts` of the
    rows). With ``digits`` (``int [rows]``, each row's digit, e.g. a clean digit and its shifted copies share one),
    the folds are :func:`fold_parts` of the digits ``0 .. max + 1`` and a row lies in its digit's fold, so that no
    out-of-fold answer comes from a vote fitted on the same digit in another position."""
    if digits is None:
        return fold_parts(rows, folds, seed)
    d = np.asarray(digits)
    if d.shape != (rows,) or not np.issubdtype(d.dtype, np.integer) or (rows and d.min() < 0):
        raise ValueError(f"digits must give each of the {rows} rows a digit index >= 0, got {d.dtype} {d.shape}")
    return fold_parts(int(d.max()) + 1 if rows else 0, folds, seed)[d]


def out_of_fold_scores(features: np.ndarray, labels: np.ndarray, c: float, *, steps: int, folds: int = FOLDS,
                       seed: int = 0, classes: int = CLASSES, digits: np.ndarray | None = None) -> np.ndarray:
    """Each row's class scores (logits) from a :class:`LearnedVote` (``C = c``) fitted on the other ``folds - 1``
    folds (:func:`row_folds`; ``digits``: each row's digit when rows share digits), ``float64 [B, classes]``."""
    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels).astype(np.int64)
    part = row_folds(len(x), folds, seed, digits)
    out = np.empty((len(x), classes), dtype=np.float64)
    for f in range(folds):
        held = part == f
        numbers = _fit_numbers(x[~held], y[~held], c, 3 * steps * classes + classes, classes)
        out[held] = _logits(x[held], *numbers)
    return out


def out_of_fold_predictions(features: np.ndarray, labels: np.ndarray, c: float, *, steps: int, folds: int = FOLDS,
                            seed: int = 0, classes: int = CLASSES, digits: np.ndarray | None = None) -> np.ndarray:
    """Each row's class from a :class:`LearnedVote` (``C = c``) fitted on the other ``folds - 1`` folds, ``int64 [B]``
    (the argmax of :func:`out_of_fold_scores`)."""
    return out_of_fold_scores(features, labels, c, steps=steps, folds=folds, seed=seed, classes=classes,
                              digits=digits).argmax(axis=1).astype(np.int64)


def probability_margin(scores: np.ndarray) -> np.ndarray:
    """``float64 [B]``: the softmax probability of each image's top class minus that of its second, for class scores
    (logits) ``[B, classes]`` (what a gate of voted answers looks at, :data:`mbi.inference.gate.VOTE_FEATURE`)."""
    z = np.asarray(scores, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"scores must be [images, classes >= 2], got shape {z.shape}")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p = np.sort(p / p.sum(axis=1, keepdims=True), axis=1)
    return p[:, -1] - p[:, -2]


def choose_c(features: np.ndarray, labels: np.ndarray, *, steps: int, grid: Sequence[float] = C_GRID,
             folds: int = FOLDS, seed: int = 0, classes: int = CLASSES,
             digits: np.ndarray | None = None) -> tuple[float, dict[str, float]]:
    """The ``C`` of ``grid`` with the best out-of-fold accuracy over all rows (ties: the smallest, the strongest
    regularization), and the curve ``{f"{C:g}": accuracy}`` over the grid; ``digits``: each row's digit when rows
    share digits (:func:`row_folds`)."""
    grid = sorted(float(c) for c in grid)
    if not grid or any(not math.isfinite(c) or c <= 0 for c in grid):
        raise ValueError(f"the C grid must hold positive numbers, got {grid}")
    y = np.asarray(labels).astype(np.int64)
    curve = {f"{c:g}": float(np.mean(out_of_fold_predictions(features, y, c, steps=steps, folds=folds, seed=seed,
                                                             classes=classes, digits=digits) == y)) for c in grid}
    best = max(grid, key=lambda c: (curve[f"{c:g}"], -c))
    return best, curve


def write_vote(folder: str | Path, vote: LearnedVote, recipe: TableRecipe = TableRecipe()) -> Path:
    """Record ``vote``, fitted on the checkpoint's full table of ``recipe``, as ``folder/``:func:`vote_file`,
    atomically."""
    return atomic_write_json(Path(folder) / vote_file(recipe), vote.to_dict())


def read_vote(folder: str | Path, recipe: TableRecipe = TableRecipe()) -> LearnedVote | None:
    """The vote recorded beside checkpoint ``folder`` for its full table of ``recipe`` (None when none is); a damaged
    file is a ValueError naming it."""
    path = Path(folder) / vote_file(recipe)
    if not path.is_file():
        return None
    return LearnedVote.from_dict(read_json(path), str(path))


def recipe_votes(folder: str | Path, shifts: Sequence[str], own: TableRecipe = TableRecipe()) -> list[dict[str, Any]]:
    """What the votes recorded beside checkpoint ``folder`` for its tables of ``shifts`` (recipes like ``own``, the
    checkpoint's, with those shifted replays) say, one row per recorded vote: the recipe, its file, the images it was
    fitted on, its ``C`` and its out-of-fold accuracy there (a fraction). A damaged file's row says so instead."""
    rows = []
    for shift in shifts:
        recipe = replace(own, shifts=shift)
        try:
            vote = read_vote(folder, recipe)
        except ValueError as exc:
            rows.append({"table (shifts)": shift, "vote": vote_file(recipe), "fitted on": "-", "C": "-",
                         "lookup-only + vote (out of fold)": f"not readable: {exc}"})
            continue
        if vote is not None:
            oof = vote.accuracy.get("clean", vote.curve.get(f"{vote.c:g}"))
            rows.append({"table (shifts)": shift, "vote": vote_file(recipe), "fitted on": vote.fitted_on,
                         "C": f"{vote.c:g}",
                         "lookup-only + vote (out of fold)": "-" if oof is None else f"{100 * oof:.2f}%"})
    return rows


__all__ = ["CLASSES", "C_GRID", "FOLDS", "VOTE_FILE", "LearnedVote", "choose_c", "feature_names", "fold_parts",
           "out_of_fold_predictions", "out_of_fold_scores", "probability_margin", "read_vote",
           "recipe_votes", "row_folds", "vote_features", "vote_file", "write_vote"]
