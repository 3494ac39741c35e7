"""Robustness of MBI: the RAM, lookup-only and mixed MBI on perturbed digits.

The table memorizes the network's episodes on the training digits; a digit that has drifted from
them (moved by a pixel or two, or noisy) follows none of those episodes exactly. This module names
the perturbations, applies them reproducibly and measures all three ways of answering on them:

* :class:`Perturbation`: a translation by ``(dy, dx)`` pixels (zero fill, mass moves by exactly that
  many pixels: :func:`mbi.memory.lut.shift_images`, the same translation the table recipe replays)
  or additive Gaussian pixel noise of standard deviation ``sigma`` (on the 0..1 intensity scale,
  clipped and rounded back to uint8) drawn from a fixed ``seed``;
* :func:`parse_perturbation` / :attr:`Perturbation.name`: the one spelling of a perturbation on the
  command line and in reports (``clean``, ``shift-down-2``, ``noise-0.1``, ``noise-0.2-seed3``);
* :data:`STANDARD`: what ``python -m mbi robustness`` measures (clean, 1 and 2 px in 4 directions,
  noise 0.1 and 0.2, seed 0);
* :func:`robustness_rows`: per perturbation, the RAM's and lookup-only accuracy, and mixed MBI's
  accuracy and share answered by lookup at a distance threshold; with a :class:`GateSetting`, also
  mixed MBI with the learned gate (:mod:`mbi.inference.gate`) at its threshold, and both gates' ROC
  AUC for "this lookup answer is wrong".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from mbi.inference.gate import LearnedGate, Neighbours, error_auc, gate_features, gated_predictions, step_neighbours
from mbi.inference.lookup import LookupTrace, StepIndex, lookup_infer
from mbi.inference.mixed import mixed_predictions
from mbi.memory.lut import LookupTable, shift_images

if TYPE_CHECKING:  # the RAM (torch) is needed to run the rows, not to perturb a digit or read a row
    from mbi.inference.fallback import FusedFallback
    from mbi.inference.vote import LearnedVote
    from mbi.model.ram import RAM

DIRECTIONS: dict[str, tuple[int, int]] = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
"""Unit translation ``(dy, dx)`` of each direction name (rows grow downwards)."""

MAX_SHIFT = 27
"""Largest shift in pixels (a 28 x 28 digit moved further is out of view)."""


@dataclass(frozen=True)
class Perturbation:
    """One way to perturb test digits: a translation, Gaussian pixel noise, or nothing (``clean``).

    ``kind`` is ``"clean"``, ``"shift"`` (``direction`` in :data:`DIRECTIONS`, ``pixels`` >= 1) or
    ``"noise"`` (``sigma`` > 0 on the 0..1 intensity scale, ``seed`` >= 0).
    """

    kind: str = "clean"
    direction: str = ""
    pixels: int = 0
    sigma: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind == "clean":
            if self.direction or self.pixels or self.sigma or self.seed:
                raise ValueError("a clean perturbation takes no direction, pixels, sigma or seed")
        elif self.kind == "shift":
            if self.direction not in DIRECTIONS:
                raise ValueError(f"shift direction must be one of {list(DIRECTIONS)}, got {self.direction!r}")
            if isinstance(self.pixels, bool) or not isinstance(self.pixels, (int, np.integer)) \
                    or not 1 <= self.pixels <= MAX_SHIFT:
                raise ValueError(f"shift pixels must be an integer from 1 to {MAX_SHIFT}, got {self.pixels!r}")
            if self.sigma or self.seed:
                raise ValueError("a shift takes no sigma or seed")
        elif self.kind == "noise":
            if not (isinstance(self.sigma, (int, float)) and 0 < float(self.sigma) <= 10):
                raise ValueError(f"noise sigma must be a number in (0, 10] (0..1 pixel scale), got {self.sigma!r}")
            if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
                raise ValueError(f"noise seed must be an integer >= 0, got {self.seed!r}")
            if self.direction or self.pixels:
                raise ValueError("noise takes no direction or pixels")
        else:
            raise ValueError(f"perturbation kind must be 'clean', 'shift' or 'noise', got {self.kind!r}")

    @property
    def offset(self) -> tuple[int, int]:
        """``(dy, dx)`` in pixels of a shift; ``(0, 0)`` otherwise."""
        if self.kind != "shift":
            return (0, 0)
        dy, dx = DIRECTIONS[self.direction]
        return (dy * self.pixels, dx * self.pixels)

    @property
    def name(self) -> str:
        """The canonical spelling, which :func:`parse_perturbation` reads back."""
        if self.kind == "shift":
            return f"shift-{self.direction}-{self.pixels}"
        if self.kind == "noise":
            return f"noise-{float(self.sigma):g}" + (f"-seed{self.seed}" if self.seed else "")
        return "clean"

    @property
    def group(self) -> str:
        """What a report averages over: ``clean``, ``shift 1 px``, ``noise 0.1`` (directions pooled)."""
        if self.kind == "shift":
            return f"shift {self.pixels} px"
        if self.kind == "noise":
            return f"noise {float(self.sigma):g}"
        return "clean"

    def apply(self, images: np.ndarray) -> np.ndarray:
        """The perturbed copy of ``images`` (uint8 ``[B, 28, 28]``); the input is not modified.

        Noise: ``clip(round(x + 255 * sigma * N(0, 1)), 0, 255)`` with one standard normal per pixel drawn
        from ``numpy.random.default_rng(seed)`` in image order, so the same images get the same noise.
        """
        images = np.asarray(images)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [B, H, W], got {images.dtype} {images.shape}")
        if self.kind == "shift":
            return shift_images(images, *self.offset)
        if self.kind == "noise":
            noise = np.random.default_rng(self.seed).standard_normal(images.shape)
            noisy = images.astype(np.float64) + 255.0 * float(self.sigma) * noise
            return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        return images.copy()


def perturbed_images_id(images_id: str, perturbation: Perturbation) -> str:
    """The name of the perturbed images in the trace caches: ``images_id`` (e.g. ``"test:2000"``) itself when
    clean, else with ``:NAME`` added (``"test:2000:shift-up-1"``), so that every command caches them alike."""
    return images_id if perturbation.kind == "clean" else f"{images_id}:{perturbation.name}"


_SHIFT = re.compile(r"shift-(up|down|left|right)-(\d+)")
_NOISE = re.compile(r"noise-([0-9]*\.?[0-9]+)(?:-seed(\d+))?")


def parse_perturbation(text: str) -> Perturbation:
    """Read ``clean``, ``shift-DIRECTION-PIXELS`` or ``noise-SIGMA[-seedN]`` (the form of :attr:`Perturbation.name`)."""
    spelled = str(text).strip().lower()
    if spelled == "clean":
        return Perturbation()
    if m := _SHIFT.fullmatch(spelled):
        return Perturbation("shift", direction=m.group(1), pixels=int(m.group(2)))
    if m := _NOISE.fullmatch(spelled):
        return Perturbation("noise", sigma=float(m.group(1)), seed=int(m.group(2) or 0))
    raise ValueError(f"unknown perturbation {text!r}: use clean, shift-up|down|left|right-PIXELS (e.g. shift-left-2) "
                     "or noise-SIGMA[-seedN] (e.g. noise-0.1)")


STANDARD: tuple[Perturbation, ...] = (
    Perturbation(),
    *(Perturbation("shift", direction=d, pixels=k) for k in (1, 2) for d in DIRECTIONS),
    Perturbation("noise", sigma=0.1),
    Perturbation("noise", sigma=0.2),
)
"""What ``python -m mbi robustness`` measures by default: clean, shifts of 1 and 2 px in 4 directions, noise 0.1, 0.2."""


def recipe_shifts(shifts: str) -> tuple[Perturbation, ...]:
    """The translations a table recipe's ``shifts`` (``"none"``, ``"1px"``, ``"2px"``:
    :data:`mbi.memory.recipe.SHIFT_CHOICES`) replays, as perturbations in :data:`STANDARD`'s order (``"2px"``: the four
    1-px shifts, then the four 2-px ones)."""
    from mbi.memory.recipe import SHIFT_CHOICES

    if shifts not in SHIFT_CHOICES:
        raise ValueError(f"shifts must be one of {sorted(SHIFT_CHOICES)}, got {shifts!r}")
    offsets = set(SHIFT_CHOICES[shifts])
    return tuple(p for p in STANDARD if p.kind == "shift" and p.offset in offsets)


@dataclass(frozen=True)
class GateSetting:
    """The learned gate at one threshold (answer by lookup when its score is <= ``threshold``).

    ``train_labels``: the classes of the training digits the table was distilled from (its
    features need them, :func:`mbi.inference.gate.gate_features`); ``share``: the validation share
    answered by lookup the threshold was chosen for (a label for reports, e.g. 0.9). ``fused`` and
    ``vote`` (both or neither): the recorded fused fallback (:mod:`mbi.inference.fallback`) and the
    learned vote it combines with the RAM, for a second mixed MBI whose sent digits it answers.
    """

    gate: LearnedGate
    threshold: float
    train_labels: np.ndarray
    share: float | None = None
    fused: "FusedFallback | None" = None
    vote: "LearnedVote | None" = None

    def __post_init__(self) -> None:
        if (self.fused is None) != (self.vote is None):
            raise ValueError("a fused fallback needs the learned vote whose scores it combines, and only then")
        if self.vote is not None:
            self.fused.check_vote(self.vote.digest)
            if self.vote.k != self.gate.k:
                raise ValueError(f"the vote looks at k={self.vote.k} neighbours, the gate at {self.gate.k}: the fused "
                                 "fallback reads the gate's")


@dataclass(frozen=True)
class RobustnessRow:
    """The three ways of answering on one perturbation of the same images (accuracies in 0..1).

    The ``learned_*`` fields are mixed MBI with the learned gate (None without a :class:`GateSetting`);
    ``*_auc`` are the ROC AUCs of each gate's score for "the lookup answer is wrong" (None when the
    lookups are all right or all wrong, or without a learned gate for ``learned_auc``).
    """

    perturbation: str
    group: str
    images: int
    ram_accuracy: float
    lookup_accuracy: float
    lookup_agrees_with_ram: float
    mixed_accuracy: float
    lookup_share: float  # share of images mixed MBI answered by lookup
    lookup_part_accuracy: float | None  # accuracy of the images answered by lookup (None if none)
    learned_accuracy: float | None = None  # mixed MBI with the learned gate
    learned_lookup_share: float | None = None
    learned_part_accuracy: float | None = None
    distance_auc: float | None = None
    learned_auc: float | None = None
    fused_accuracy: float | None = None  # mixed MBI with the learned gate and the fused fallback


def _auc(score: np.ndarray, wrong: np.ndarray) -> float | None:
    return error_auc(score, wrong) if wrong.any() and not wrong.all() else None


def robustness_row(perturbation: Perturbation, trace: LookupTrace, ram_pred: np.ndarray, labels: np.ndarray,
                   threshold: float, learned_score: np.ndarray | None = None,
                   learned_threshold: float | None = None, fused_pred: np.ndarray | None = None) -> RobustnessRow:
    """Accuracies of one perturbation from its lookup trace and the RAM's classes on the same perturbed images.

    ``learned_score`` (``float64 [B]``, :meth:`LearnedGate.score` of the trace's features) and
    ``learned_threshold`` add the learned gate's mixed MBI and both gates' AUCs; ``fused_pred`` (``int [B]``, the
    fused fallback's classes) adds that gate's mixed MBI with the fused fallback answering what it sends away.
    """
    labels, ram_pred = np.asarray(labels), np.asarray(ram_pred)
    pred, by_lookup = mixed_predictions(trace, ram_pred, float(threshold))
    lookup_ok = trace.prediction == labels
    extra: dict = {"distance_auc": _auc(trace.max_distance.astype(np.float64), ~lookup_ok)}
    if learned_score is not None:
        if learned_threshold is None:
            raise ValueError("a learned gate's scores need its threshold")
        gated, by_gate = gated_predictions(learned_score, trace.prediction, ram_pred, learned_threshold)
        extra.update(learned_accuracy=float(np.mean(gated == labels)), learned_lookup_share=float(by_gate.mean()),
                     learned_part_accuracy=float(lookup_ok[by_gate].mean()) if by_gate.any() else None,
                     learned_auc=_auc(learned_score, ~lookup_ok))
        if fused_pred is not None:
            fused, _ = gated_predictions(learned_score, trace.prediction, np.asarray(fused_pred), learned_threshold)
            extra["fused_accuracy"] = float(np.mean(fused == labels))
    return RobustnessRow(
        perturbation=perturbation.name, group=perturbation.group, images=int(len(labels)),
        ram_accuracy=float(np.mean(ram_pred == labels)), lookup_accuracy=float(np.mean(lookup_ok)),
        lookup_agrees_with_ram=float(np.mean(trace.prediction == ram_pred)),
        mixed_accuracy=float(np.mean(pred == labels)), lookup_share=float(np.mean(by_lookup)),
        lookup_part_accuracy=float(lookup_ok[by_lookup].mean()) if by_lookup.any() else None, **extra,
    )


TraceOf = Callable[[Perturbation, np.ndarray], LookupTrace]
"""``trace_of(perturbation, perturbed_images) -> LookupTrace`` (e.g. a disk cache of the lookups)."""
NeighboursOf = Callable[[Perturbation, LookupTrace], Neighbours]
"""``neighbours_of(perturbation, trace) -> Neighbours`` of the trace's queries (e.g. a disk cache)."""


def robustness_rows(model: RAM, table: LookupTable, images: np.ndarray, labels: np.ndarray, threshold: float,
                    index: StepIndex, perturbations: Sequence[Perturbation] = STANDARD,
                    progress: Callable[[int, Perturbation], None] | None = None,
                    learned: GateSetting | None = None, trace_of: TraceOf | None = None,
                    neighbours_of: NeighboursOf | None = None) -> list[RobustnessRow]:
    """The RAM, lookup-only and mixed MBI (at ``threshold``) on each perturbation of ``images``.

    ``index`` is the table's :class:`mbi.inference.lookup.StepIndex` (its weights and search are the
    lookups'); ``progress(i, perturbation)`` is called before perturbation ``i`` is measured.
    ``learned`` adds mixed MBI with the learned gate (its ``k`` exact nearest rows per step are
    searched for every perturbed image, as costly as the lookups). ``trace_of`` / ``neighbours_of``
    replace the lookups / the neighbour search (same answers, e.g. from a disk cache).
    """
    from mbi.model.predict import class_logits

    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(images) == 0:
        raise ValueError("no images to perturb")
    rows = []
    for i, p in enumerate(perturbations):
        if progress:
            progress(i, p)
        x = p.apply(images)
        trace = trace_of(p, x) if trace_of else lookup_infer(model, table, x, index=index)
        score = fused = None
        logits = class_logits(model, x)
        if learned is not None:
            found = neighbours_of(p, trace) if neighbours_of else \
                step_neighbours(table, index.weights, trace.queries, learned.gate.k,
                                index=index if index.kind == "brute" else None)
            score = learned.gate.score(gate_features(trace, found, table, learned.train_labels,
                                                     learned.gate.features))
            if learned.fused is not None:
                from mbi.inference.vote import vote_features

                votes = learned.vote.scores(vote_features(trace, found, table, learned.train_labels,
                                                          learned.vote.classes))
                fused = learned.fused.answers(logits, votes)
        rows.append(robustness_row(p, trace, logits.argmax(axis=1).astype(np.int64), labels, threshold, score,
                                   None if learned is None else learned.threshold, fused))
    return rows


def _pooled_part(members: Sequence[RobustnessRow], share: str, part: str) -> float | None:
    """Accuracy of the lookup-answered images pooled over ``members`` (None if none was answered by lookup)."""
    by_lookup = sum(getattr(m, share) * m.images for m in members)
    right = sum((getattr(m, part) or 0.0) * getattr(m, share) * m.images for m in members)
    return right / by_lookup if by_lookup else None


def group_means(rows: Sequence[RobustnessRow]) -> list[dict]:
    """Rows averaged per :attr:`Perturbation.group` (the 4 directions of a shift pooled), in first-seen order.

    Each dict has ``group``, ``perturbations`` (how many were pooled) and the mean of every accuracy
    field of :class:`RobustnessRow` (the ``*_part_accuracy`` fields pooled over the images answered by
    lookup; a field that is None in any member is None).
    """
    out: dict[str, list[RobustnessRow]] = {}
    for r in rows:
        out.setdefault(r.group, []).append(r)
    means = []
    for group, members in out.items():
        mean = {f: (None if any(getattr(m, f) is None for m in members)
                    else float(np.mean([getattr(m, f) for m in members])))
                for f in ("ram_accuracy", "lookup_accuracy", "lookup_agrees_with_ram", "mixed_accuracy",
                          "lookup_share", "learned_accuracy", "learned_lookup_share", "distance_auc", "learned_auc",
                          "fused_accuracy")}
        learned = mean["learned_lookup_share"] is not None
        means.append({
            "group": group, "perturbations": len(members), **mean,
            "lookup_part_accuracy": _pooled_part(members, "lookup_share", "lookup_part_accuracy"),
            "learned_part_accuracy": _pooled_part(members, "learned_lookup_share", "learned_part_accuracy")
            if learned else None,
        })
    return means
