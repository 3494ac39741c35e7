"""Mixed MBI with the learned vote's answers: the images a gate keeps are answered by the vote, the others by the RAM.

The learned vote (:mod:`mbi.inference.vote`) answers lookup-only images better than the last glimpse's readout; in
mixed MBI the images the gate keeps can take the vote's answer instead, at almost no cost (the vote's ``k`` nearest
rows per glimpse are the learned gate's). A gate that predicts errors of the *voted* answer is a
:class:`mbi.inference.gate.LearnedGate` with ``answers="vote"``: the gate's features
(:func:`mbi.inference.gate.gate_features`) taken against the voted class, plus the vote's probability margin
(:data:`mbi.inference.gate.VOTE_FEATURE`).

It must be fitted on what the vote does on images it was not fitted on: the recorded vote is fitted on all
validation digits, where it is over-confident (97.6% right on them against 97.0% out of fold). So
:func:`fit_vote_gate` fits the gate on the vote's *out-of-fold* answers on validation, and :func:`nested_scores`
grades that recipe on validation honestly: in each outer fold the vote and the gate are fitted on the other folds
(the gate on the vote's out-of-fold answers there, inner folds) and score the held fold.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, Sequence

import numpy as np

from mbi.inference.gate import VOTE_FEATURE, LearnedGate, Neighbours, feature_names, gate_features
from mbi.inference.lookup import LookupTrace
from mbi.inference.vote import FOLDS, LearnedVote, fold_parts, out_of_fold_scores, probability_margin, vote_features
from mbi.memory.lut import LookupTable

VOTE_GATE = "learned-vote"
"""The name of the gate of voted answers (the key of its thresholds in a table's recorded ``gate_thresholds``)."""

FIT_COMMAND = "python -m mbi gate CHECKPOINT --answers vote --fit --record"
"""What to run when the gate of voted answers is missing or belongs to another vote."""


def vote_gate_names(steps: int) -> list[str]:
    """The columns of a gate of voted answers for ``steps`` glimpse steps: the plain gate's
    (:func:`mbi.inference.gate.feature_names`) plus :data:`mbi.inference.gate.VOTE_FEATURE`."""
    return feature_names(steps) + [VOTE_FEATURE]


def vote_gate_features(trace: LookupTrace, neighbours: Neighbours, table: LookupTable, train_labels: np.ndarray,
                       vote_scores: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """``float64 [B, F]``: the gate columns ``names`` taken against the voted class ``vote_scores.argmax(1)`` (class
    scores ``[B, classes]`` of the learned vote), with the vote's probability margin."""
    vote_scores = np.asarray(vote_scores, dtype=np.float64)
    return gate_features(trace, neighbours, table, train_labels, names, answer=vote_scores.argmax(axis=1),
                         vote_margin=probability_margin(vote_scores))


def recorded_vote_gate(entry: Mapping[str, Any] | None, vote: LearnedVote) -> LearnedGate:
    """The gate of voted answers recorded for a table (``vote_gate`` of :meth:`mbi.model.checkpoint.Checkpoint.gates`),
    checked to grade ``vote``'s answers; a missing, malformed or stale one (another vote's, or a plain-answers gate) is
    a ValueError that says what to run."""
    if entry is None:
        raise ValueError(f"no gate of voted answers is recorded for this table; fit one on validation with "
                         f"`{FIT_COMMAND}`")
    gate = LearnedGate.from_dict(dict(entry))
    if gate.answers != "vote":
        raise ValueError(f"the recorded vote_gate grades {gate.answers} lookup answers, not voted ones; fit it again "
                         f"with `{FIT_COMMAND}`")
    if gate.vote != vote.digest:
        raise ValueError(f"the recorded vote_gate was fitted for vote {gate.vote}, not the recorded vote "
                         f"({vote.digest}); fit it again with `{FIT_COMMAND}`")
    if gate.k != vote.k:
        raise ValueError(f"the recorded vote_gate looks at k={gate.k} neighbours, the vote at {vote.k}; fit it again "
                         f"with `{FIT_COMMAND}`")
    return gate


def voted(vote: LearnedVote, trace: LookupTrace, neighbours: Neighbours, table: LookupTable, train_labels: np.ndarray,
          gate: LearnedGate | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Mixed MBI's lookup answers by ``vote`` for ``trace``'s ``B`` images (``int64 [B]``; ``neighbours``: their ``k``
    nearest rows) and, when ``gate`` (a gate of this vote's answers, :func:`recorded_vote_gate`) is given, its scores
    (``float64 [B]``, lower = answer by lookup; else None)."""
    scores = vote.scores(vote_features(trace, neighbours, table, train_labels, vote.classes))
    if gate is None:
        return scores.argmax(axis=1), None
    return scores.argmax(axis=1), gate.score(vote_gate_features(trace, neighbours, table, train_labels, scores,
                                                                gate.features))


def _take(trace: LookupTrace, neighbours: Neighbours, rows: np.ndarray) -> tuple[LookupTrace, Neighbours]:
    """The images ``rows`` (indices) of ``trace`` and ``neighbours``."""
    sub = LookupTrace(**{f.name: getattr(trace, f.name)[rows] for f in fields(trace)})
    return sub, Neighbours(neighbours.rows[rows], neighbours.distance[rows])


def fit_vote_gate(vote: LearnedVote, features: np.ndarray, trace: LookupTrace, neighbours: Neighbours,
                  table: LookupTable, train_labels: np.ndarray, labels: np.ndarray, names: Sequence[str], *,
                  folds: int = FOLDS, seed: int = 0, fitted_on: str = "") -> tuple[LearnedGate, np.ndarray, np.ndarray]:
    """Fit the gate of ``vote``'s answers on ``B`` images (validation): target "the voted answer is wrong", where the
    voted answers and margins are out of fold (``folds`` folds of :func:`fold_parts`, a vote of ``vote.c`` fitted on
    the others; ``features``: :func:`mbi.inference.vote.vote_features` ``[B, F]``).

    Returns the gate (tied to ``vote.digest``), its inputs ``[B, G]`` on these images and the out-of-fold vote
    scores ``[B, classes]``.
    """
    labels = np.asarray(labels).astype(np.int64)
    scores = out_of_fold_scores(features, labels, vote.c, steps=vote.steps, folds=folds, seed=seed,
                                classes=vote.classes)
    x = vote_gate_features(trace, neighbours, table, train_labels, scores, names)
    gate = LearnedGate.fit(x, scores.argmax(axis=1) != labels, names, neighbours.k, fitted_on, vote=vote.digest)
    return gate, x, scores


def nested_scores(vote: LearnedVote, features: np.ndarray, trace: LookupTrace, neighbours: Neighbours,
                  table: LookupTable, train_labels: np.ndarray, labels: np.ndarray, names: Sequence[str], *,
                  folds: int = FOLDS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mixed MBI with voted answers graded on ``B`` images none of whose own labels fitted what answers or gates them.

    In outer fold ``f`` (:func:`fold_parts` with ``seed``, the folds the plain gate's out-of-fold scores use) a vote of
    ``vote.c`` fitted on the other folds answers fold ``f``, and a gate fitted by :func:`fit_vote_gate` on the other
    folds (its inner folds: seed ``seed + 1``) scores it. Returns the voted classes ``int64 [B]`` and the gate
    scores ``float64 [B]``.
    """
    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels).astype(np.int64)
    part = fold_parts(len(x), folds, seed)
    answer = np.empty(len(x), dtype=np.int64)
    score = np.empty(len(x), dtype=np.float64)
    for f in range(folds):
        held, rest = np.flatnonzero(part == f), np.flatnonzero(part != f)
        outer = LearnedVote.fit(x[rest], y[rest], steps=vote.steps, k=vote.k, c=vote.c, table=vote.table,
                                weights=vote.weights, classes=vote.classes)
        rest_trace, rest_nb = _take(trace, neighbours, rest)
        gate, _, _ = fit_vote_gate(vote, x[rest], rest_trace, rest_nb, table, train_labels, y[rest], names,
                                   folds=folds, seed=seed + 1)
        held_scores = outer.scores(x[held])
        held_trace, held_nb = _take(trace, neighbours, held)
        answer[held] = held_scores.argmax(axis=1)
        score[held] = gate.score(vote_gate_features(held_trace, held_nb, table, train_labels, held_scores, names))
    return answer, score


__all__ = ["FIT_COMMAND", "VOTE_GATE", "fit_vote_gate", "nested_scores", "recorded_vote_gate", "vote_gate_features",
           "vote_gate_names", "voted"]
