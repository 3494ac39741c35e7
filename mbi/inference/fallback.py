"""Mixed MBI's fallback: what answers the digits a gate does not trust the lookup with.

The paper's mixed MBI runs the network on them and keeps its class (``"ram"``). The RAM is then run anyway, but what
the lookups found for that digit is thrown away, although on the digits a gate sends away the lookup is often right
where the RAM is wrong (RESULTS.md, the gate's fourth round). The *fused* fallback (``"fused"``) answers them with

    argmax_c  log p_RAM(c) + beta * log p_vote(c)

``p_RAM`` the RAM's class probabilities (softmax of its logits), ``p_vote`` the learned vote's
(:mod:`mbi.inference.vote`, the softmax of its class scores over the 16 nearest rows per glimpse the learned gate
already searched), ``beta`` >= 0 chosen on validation digits (:func:`choose_beta`) from :data:`BETAS`. The share of
digits answered by lookup alone is what the gate decides, as before; only the answer of the others changes.

A :class:`FusedFallback` is recorded beside the gate it serves (``"fallback"`` in
:class:`mbi.model.checkpoint.RecordedGates`), tied by digest to the vote whose scores it combines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from mbi.inference.gate import accuracy_at_share, gate_curve

if TYPE_CHECKING:
    from mbi.inference.vote import LearnedVote

FALLBACKS = ("ram", "fused")
"""The fallbacks of mixed MBI: the RAM's class (the paper's) or the RAM's and the vote's evidence fused."""

BETAS = (0.25, 0.5, 1.0, 2.0, 4.0)
"""The vote weights :func:`choose_beta` tries unless told others."""

FALLBACK_SHARE = 0.8
"""The share answered by lookup at which :func:`choose_beta` grades each beta (the issue's 80% point)."""

FIT_COMMAND = "python -m mbi gate CHECKPOINT --fallback fused --fit --record"
"""What to run when the recorded fused fallback is missing or stale."""


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of class scores (logits) ``[B, C]``, ``float64`` (stable: the row maximum is taken out)."""
    z = np.asarray(scores, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ValueError(f"class scores must be [images, classes >= 2], got shape {z.shape}")
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fused_answers(ram_logits: np.ndarray, vote_scores: np.ndarray, beta: float) -> np.ndarray:
    """``int64 [B]``: argmax of ``log_softmax(ram_logits) + beta * log_softmax(vote_scores)`` (both ``[B, C]``; ties:
    the lowest class). ``beta = 0`` gives the RAM's own classes."""
    ram, vote = log_softmax(ram_logits), log_softmax(vote_scores)
    if ram.shape != vote.shape:
        raise ValueError(f"the RAM's and the vote's class scores must have one shape, got {ram.shape} and "
                         f"{vote.shape}")
    if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    return (ram + float(beta) * vote).argmax(axis=1).astype(np.int64)


def _mixed(score: np.ndarray, lookup_pred: np.ndarray, fallback: np.ndarray, labels: np.ndarray, share: float) -> float:
    return accuracy_at_share(gate_curve(score, lookup_pred, fallback, labels), share).accuracy


def choose_beta(score: np.ndarray, lookup_pred: np.ndarray, ram_logits: np.ndarray, vote_scores: np.ndarray,
                labels: np.ndarray, share: float = FALLBACK_SHARE,
                betas: Sequence[float] = BETAS) -> tuple[float, dict[str, float]]:
    """The ``beta`` of ``betas`` whose fused fallback gives the best mixed accuracy at ``share`` by lookup (the
    images of lowest gate ``score`` ``[B]`` answered by ``lookup_pred`` ``[B]``, the rest by
    :func:`fused_answers`), ties to the one nearest 1 on a log scale, and the curve ``{f"{beta:g}": accuracy}``."""
    betas = sorted(float(b) for b in betas)
    if not betas or any(not math.isfinite(b) or b < 0 for b in betas):
        raise ValueError(f"the betas must be finite numbers >= 0, got {betas}")
    curve = {f"{b:g}": _mixed(score, lookup_pred, fused_answers(ram_logits, vote_scores, b), labels, share)
             for b in betas}
    best = max(betas, key=lambda b: (round(curve[f"{b:g}"], 9), -abs(math.log(b)) if b > 0 else -math.inf))
    return best, curve


def nested_fused_answers(score: np.ndarray, lookup_pred: np.ndarray, ram_logits: np.ndarray,
                         vote_scores: np.ndarray, labels: np.ndarray, parts: np.ndarray,
                         share: float = FALLBACK_SHARE,
                         betas: Sequence[float] = BETAS) -> tuple[np.ndarray, list[float]]:
    """Fused answers ``int64 [B]`` graded out of fold: for the images of each fold of ``parts`` (``int [B]``), the
    beta :func:`choose_beta` picks on the other folds' images; and the beta of each fold, in fold order."""
    parts = np.asarray(parts)
    out = np.empty(len(parts), dtype=np.int64)
    picked = []
    for f in np.unique(parts):
        rest = parts != f
        beta, _ = choose_beta(score[rest], lookup_pred[rest], ram_logits[rest], vote_scores[rest], labels[rest],
                              share, betas)
        picked.append(beta)
        out[~rest] = fused_answers(ram_logits[~rest], vote_scores[~rest], beta)
    return out, picked


@dataclass(frozen=True)
class FusedFallback:
    """The recorded fused fallback of one table's mixed MBI.

    Attributes:
        beta: the vote's weight in :func:`fused_answers`; ``vote``: the digest of the learned vote
            (:attr:`mbi.inference.vote.LearnedVote.digest`) whose class scores it combines.
        share: the share by lookup ``beta`` was chosen at; ``curve``: mixed accuracy there per beta tried
            (``{"0.25": 0.9851, ...}``, what it was chosen by); ``fitted_on``: the images, e.g. ``"val:10000"``.
    """

    beta: float
    vote: str
    share: float = FALLBACK_SHARE
    fitted_on: str = ""
    curve: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        numbers = (self.beta, self.share, *self.curve.values())
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in numbers):
            raise ValueError("a fused fallback's beta, share and curve must be finite numbers")
        if self.beta < 0 or not 0 < self.share <= 1:
            raise ValueError(f"a fused fallback needs beta >= 0 and a share in (0, 1], got {self.beta}, {self.share}")
        if not isinstance(self.vote, str) or not self.vote:
            raise ValueError("a fused fallback names the digest of the vote it combines")

    def check_vote(self, digest: str) -> None:
        """ValueError unless the vote of digest ``digest`` is the one this fallback was fitted with."""
        if digest != self.vote:
            raise ValueError(f"the recorded fused fallback was fitted for vote {self.vote}, not the recorded vote "
                             f"({digest}); fit it again with `{FIT_COMMAND}`")

    def answers(self, ram_logits: np.ndarray, vote_scores: np.ndarray) -> np.ndarray:
        """:func:`fused_answers` at this fallback's ``beta``."""
        return fused_answers(ram_logits, vote_scores, self.beta)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the ``"fallback"`` entry of a table's recorded gates)."""
        return {"kind": "fused", "beta": self.beta, "vote": self.vote, "share": self.share,
                "fitted_on": self.fitted_on, "curve": dict(self.curve)}

    @classmethod
    def from_dict(cls, data: Any, where: str = "the recorded fallback") -> "FusedFallback":
        """Read :meth:`to_dict`'s output back; anything else is a ValueError naming ``where`` and what to run."""
        try:
            if not isinstance(data, dict) or data.get("kind") != "fused":
                raise TypeError(f"it is not a fused fallback (kind {data.get('kind') if isinstance(data, dict) else data!r})")
            unknown = sorted(set(data) - {"kind", "beta", "vote", "share", "fitted_on", "curve"})
            if unknown:
                raise ValueError(f"unknown entries {unknown}")
            curve = data.get("curve", {})
            if not isinstance(curve, dict):
                raise TypeError("its curve must map each beta to an accuracy")
            return cls(data["beta"], data["vote"], data.get("share", FALLBACK_SHARE), str(data.get("fitted_on", "")),
                       {str(b): a for b, a in curve.items()})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where} is not a fused fallback ({exc}); fit it again with `{FIT_COMMAND}`") from exc


def recorded_fallback(entry: Mapping[str, Any] | None, vote: "LearnedVote | None") -> FusedFallback:
    """The fused fallback recorded for a table (``fallback`` of :meth:`mbi.model.checkpoint.Checkpoint.gates`), checked
    to combine ``vote``, the table's recorded learned vote; a missing, malformed or stale one (no vote, or another
    vote's) is a ValueError that says what to run."""
    if entry is None:
        raise ValueError(f"no fused fallback recorded for this table; fit one on validation with `{FIT_COMMAND}`")
    fused = FusedFallback.from_dict(dict(entry))
    if vote is None:
        from mbi.inference.vote import FIT_COMMAND as VOTE_FIT_COMMAND

        raise ValueError(f"a fused fallback is recorded but no learned vote for this table; fit one with "
                         f"`{VOTE_FIT_COMMAND}`, then the fallback again with `{FIT_COMMAND}`")
    fused.check_vote(vote.digest)
    return fused


__all__ = ["BETAS", "FALLBACKS", "FALLBACK_SHARE", "FusedFallback", "choose_beta", "fused_answers", "log_softmax",
           "nested_fused_answers", "recorded_fallback"]
