"""The learned gate's inputs over many images, computed once and kept on disk.

A gate needs, beside the lookup trace (:mod:`mbi.runs.tracecache`), the exact ``k`` nearest rows of
every step's query (:func:`mbi.inference.gate.step_neighbours`): a second exhaustive search as costly
as the lookup itself. :func:`cached_neighbours` keeps them beside the trace in ``$MBI_HOME/traces/``
under the trace's name plus ``-knnK`` (capped with the traces, :func:`mbi.store.cache_limits`);
:func:`gate_scores` turns a trace into a gate's per-image scores.
:func:`gate_inputs` gathers what both gates are scored and graded on for a set of images, and
:func:`gate_report` grades them (what ``python -m mbi gate`` prints and the reproduce report shows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from mbi.config import TreeConfig
from mbi.inference.gate import (LearnedGate, Neighbours, accuracy_at_share, error_auc, gate_curve, gate_features,
                                gated_predictions, step_neighbours, wrong_answers)
from mbi.inference.lookup import LookupTrace, StepIndex
from mbi.memory.lut import LookupTable
from mbi.runs import views
from mbi.runs.tracecache import cached_trace, trace_path
from mbi.store import atomic_save_npz, cache_limits, prune_oldest

if TYPE_CHECKING:  # only gate_inputs runs the network (and imports torch)
    from mbi.model.ram import RAM


def neighbours_path(table: LookupTable, weights: Sequence[float], kind: str, tree: TreeConfig | None, images: str, k: int,
                    root: Path | None = None) -> Path:
    """Where :func:`cached_neighbours` keeps the neighbours of the trace with these settings."""
    path = trace_path(table, weights, kind, tree, images, root)
    return path.with_name(f"{path.stem}-knn{k}.npz")


def cached_neighbours(table: LookupTable, weights: Sequence[float], trace: LookupTrace, images: str, k: int,
                      kind: str = "brute", tree: TreeConfig | None = None, progress: Callable[[float], None] | None = None,
                      root: Path | None = None, index: StepIndex | None = None) -> Neighbours:
    """:func:`step_neighbours` of ``trace``'s queries (``images`` names them, as for the trace), from disk or computed.

    ``kind``/``tree`` name the trace's search; the neighbours are always exact (``index``: an exact
    :class:`StepIndex` of ``table`` under ``weights`` to search with, default: one is built).
    """
    path = neighbours_path(table, weights, kind, tree, images, k, root)
    if views.restore(path, root):
        try:
            with np.load(path, allow_pickle=False) as npz:
                found = Neighbours(npz["rows"], npz["distance"])
            if found.rows.shape == (*trace.distance.shape, k) and found.distance.shape == found.rows.shape:
                return found
        except Exception:  # a damaged cache file is recomputed
            pass
    found = step_neighbours(table, weights, trace.queries, k, progress, index=index)
    atomic_save_npz(path, rows=found.rows, distance=found.distance)
    prune_oldest(path.parent, *cache_limits(), keep=path, pattern="*.npz")
    return found


def gate_scores(gate: str, trace: LookupTrace, neighbours: Neighbours | None = None, table: LookupTable | None = None,
                train_labels: np.ndarray | None = None, learned: LearnedGate | None = None) -> np.ndarray:
    """Per-image score of ``gate`` (lower = answer by lookup): the largest matched distance or P(wrong)."""
    if gate == "distance":
        return trace.max_distance.astype(np.float64)
    if gate != "learned":
        raise ValueError(f"gate must be 'distance' or 'learned', got {gate!r}")
    if learned is None or neighbours is None or table is None or train_labels is None:
        raise ValueError("the learned gate needs a fitted gate, the neighbours, the table and the training labels")
    return learned.score(gate_features(trace, neighbours, table, train_labels, learned.features))


DEFAULT_SHARES = (0.8, 0.9)
"""Shares answered by lookup whose gate thresholds ``python -m mbi gate --fit`` chooses unless told others."""


def recorded_shares(thresholds: Mapping[str, Mapping[str, float]]) -> tuple[float, ...]:
    """The shares a checkpoint's recorded gate thresholds (``{gate: {"0.8": threshold}}``) are for, ascending
    (:data:`DEFAULT_SHARES` when none are recorded)."""
    found = sorted({float(s) for by_share in thresholds.values() for s in by_share})
    return tuple(found) or DEFAULT_SHARES


@dataclass(frozen=True)
class GateInputs:
    """What both gates are scored and graded on for ``B`` images.

    Attributes:
        trace: the exact lookup-only trace (brute force, cached).
        neighbours: the ``k`` exact nearest rows of each of its queries (cached).
        features: ``float64 [B, F]`` the learned gate's inputs, the columns it was built with
            (:func:`mbi.inference.gate.gate_features`).
        wrong: ``bool [B]`` the lookup-only answer is wrong.
        ram_pred: ``int64 [B]`` the RAM's classes (the paper's fallback).
        labels: ``int64 [B]`` the true classes.
        ram_logits: ``float32 [B, classes]`` the RAM's class scores (``ram_pred`` is their argmax; what a fused
            fallback combines with the vote's, :mod:`mbi.inference.fallback`).
    """

    trace: LookupTrace
    neighbours: Neighbours
    features: np.ndarray
    wrong: np.ndarray
    ram_pred: np.ndarray
    labels: np.ndarray
    ram_logits: np.ndarray


def gate_inputs(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray, train_labels: np.ndarray,
                weights: Sequence[float], images_id: str, k: int, names: Sequence[str]) -> GateInputs:
    """The trace and ``k`` neighbours per step (both cached under ``images_id``, e.g. ``"val:4000"`` or a perturbed
    set's :func:`mbi.inference.robustness.perturbed_images_id`), the gate's features ``names`` (e.g. a recorded
    gate's ``features``, or :func:`mbi.inference.gate.feature_names`) and the RAM's answers for ``images``
    ``[B, 28, 28]``; ``train_labels`` are the labels of the images the table was distilled from."""
    trace = cached_trace(model, table, images, images_id, weights)
    neighbours = cached_neighbours(table, weights, trace, images_id, k)
    labels = np.asarray(labels)
    features = gate_features(trace, neighbours, table, train_labels, names)
    from mbi.model.predict import class_logits

    logits = class_logits(model, images)
    return GateInputs(trace, neighbours, features, wrong_answers(trace, labels), logits.argmax(axis=1).astype(np.int64),
                      labels, logits)


def gate_report(inputs: GateInputs, scores: Mapping[str, np.ndarray], thresholds: Mapping[str, Mapping[str, float]],
                shares: Sequence[float], answer: np.ndarray | None = None, fallback: np.ndarray | None = None) -> dict:
    """The gates ``scores`` (name -> ``[B]``, lower = answer by lookup; e.g. :data:`mbi.inference.gate.GATES`) graded
    on ``inputs``: RAM and lookup-only accuracy, and per gate its ROC AUC for wrong lookup answers, its curve and, at
    each of ``shares``, mixed MBI at that share on these images and (when ``thresholds[gate]`` records one for the
    share, e.g. ``"0.8"``) at the recorded threshold. The lookup answers are ``answer`` (``int [B]``, e.g. the
    learned vote's), default the plain ones (:attr:`LookupTrace.prediction`); the digits a gate sends away are answered
    by ``fallback`` (``int [B]``, e.g. :func:`mbi.inference.fallback.fused_answers`), default the RAM's classes."""
    labels = inputs.labels
    answer = inputs.trace.prediction if answer is None else np.asarray(answer)
    fallback = inputs.ram_pred if fallback is None else np.asarray(fallback)
    wrong = answer != labels
    gates = {}
    for gate, score in scores.items():
        recorded = thresholds.get(gate) or {}
        curve = gate_curve(score, answer, fallback, labels)
        at = []
        for share in shares:
            here = accuracy_at_share(curve, share)
            row = {"share": share, "threshold_here": here.threshold, "accuracy_here": here.accuracy,
                   "lookup_share_here": here.lookup_share}
            if f"{share:g}" in recorded:
                pred, mask = gated_predictions(score, answer, fallback, recorded[f"{share:g}"])
                row.update(threshold=recorded[f"{share:g}"], accuracy=float(np.mean(pred == labels)),
                           lookup_share=float(mask.mean()))
            at.append(row)
        gates[gate] = {"auc": error_auc(score, wrong), "at_share": at, "curve": [vars(p) for p in curve]}
    return {"images": int(len(labels)), "ram_accuracy": float(np.mean(inputs.ram_pred == labels)),
            "fallback_accuracy": float(np.mean(fallback == labels)), "lookup_accuracy": float(np.mean(~wrong)),
            "gates": gates}
