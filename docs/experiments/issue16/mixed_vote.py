"""Mixed MBI with the learned vote's answers (issue 16): which gate, on validation only.

All 10,000 validation digits, the shipped table, BO weights, k = 16, the recorded vote's C. Every number is out of
fold with the same 5 folds for the vote and the gate, and for a gate of voted answers *nested*: in outer fold f the
vote is fitted on the other four folds and answers fold f; the gate is fitted on the other four folds' voted answers,
themselves out of fold (5 inner folds of those four), i.e. exactly what the recorded pair is: the vote fitted on all
validation digits, the gate on its out-of-fold answers there. Needs the trace and the 16 neighbours cached (``python -m
mbi gate default --fit`` with the same MBI_HOME).

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/mixed_vote.py [SEEDS]   (default: 0)
"""
import sys

import numpy as np

from mbi.data import load_mnist
from mbi.inference.gate import LearnedGate, accuracy_at_share, error_auc, gate_curve, gate_features
from mbi.inference.vote import _fit_numbers, _logits, read_vote, vote_features
from mbi.model.checkpoint import Checkpoint
from mbi.model.predict import predict
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace

ck = Checkpoint.of("default")
m = load_mnist()
table = ck.table()
N = 10000
x_img, y = m.val_x[:N], m.val_y[:N]
w = ck.lookup.chosen_weights
tr = cached_trace(ck.model, table, x_img, f"val:{N}", w)
nb = cached_neighbours(table, w, tr, f"val:{N}", 16)
ram = predict(ck.model, x_img)
vote = read_vote(ck.folder)
gate = LearnedGate.from_dict(ck.lookup.gate)
names = list(gate.features)
vf = vote_features(tr, nb, table, m.train_y)
NF = vf.shape[1]
plain_feat = gate_features(tr, nb, table, m.train_y, names)
plain = tr.prediction.astype(np.int64)


def fit_vote(rows: np.ndarray):
    """The vote's numbers fitted on the images ``rows`` (bool [N])."""
    return _fit_numbers(vf[rows], y[rows], vote.c, NF, 10)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def extras(rows: np.ndarray, logits: np.ndarray, answer: np.ndarray) -> dict:
    p = np.sort(softmax(logits), axis=1)
    return {"vote_margin": p[:, -1] - p[:, -2], "vote_changed": (answer != plain[rows]).astype(float)}


def refit_features(rows: np.ndarray, logits: np.ndarray, variant: str) -> np.ndarray:
    """Gate inputs of the images ``rows`` (indices) whose vote logits are ``logits``."""
    answer = logits.argmax(1)
    kind, _, more = variant.partition("+")
    base = plain_feat[rows] if kind == "plainfeat" else None
    if base is None:
        fields = ("locs", "rows", "distance", "comparisons", "readouts", "queries")
        sub = type(tr)(*(getattr(tr, f)[rows] for f in fields))
        base = gate_features(sub, type(nb)(nb.rows[rows], nb.distance[rows]), table, m.train_y, names, answer)
    ex = extras(rows, logits, answer)
    cols = [base] + [ex[n][:, None] for n in more.split("+") if n]
    return np.concatenate(cols, axis=1)


VARIANTS = ("voted", "voted+vote_margin", "voted+vote_margin+vote_changed", "plainfeat+vote_margin")


def run(seed: int) -> dict:
    part = np.random.default_rng(seed).permutation(N) % 5
    oof_logits = np.empty((N, 10))
    plain_score = np.empty(N)
    refit = {v: np.empty(N) for v in VARIANTS}
    for f in range(5):
        held, train = np.flatnonzero(part == f), np.flatnonzero(part != f)
        oof_logits[held] = _logits(vf[held], *fit_vote(part != f))
        plain_gate = LearnedGate.fit(plain_feat[train], plain[train] != y[train], names, 16)
        plain_score[held] = plain_gate.score(plain_feat[held])
        # inner out-of-fold vote answers on the four training folds
        inner_part = np.random.default_rng(seed + 100).permutation(len(train)) % 5
        inner_logits = np.empty((len(train), 10))
        for g in range(5):
            rows = np.zeros(N, bool)
            rows[train[inner_part != g]] = True
            inner_logits[inner_part == g] = _logits(vf[train[inner_part == g]], *fit_vote(rows))
        wrong_in = inner_logits.argmax(1) != y[train]
        for v in VARIANTS:
            xf = refit_features(train, inner_logits, v)
            g_ = LearnedGate.fit(xf, wrong_in, [f"c{i}" for i in range(xf.shape[1])], 16)
            refit[v][held] = g_.score(refit_features(held, oof_logits[held], v))
        print(f"  seed {seed} fold {f} done", flush=True)
    voted = oof_logits.argmax(1)
    out = {}

    def row(name, score, answer):
        curve = gate_curve(score, answer, ram, y)
        out[name] = (error_auc(score, answer != y), accuracy_at_share(curve, 0.8).accuracy,
                     accuracy_at_share(curve, 0.9).accuracy)

    row("plain answers, current gate", plain_score, plain)
    row("plain answers, distance gate", tr.max_distance.astype(float), plain)
    row("voted answers, current gate", plain_score, voted)
    row("voted answers, distance gate", tr.max_distance.astype(float), voted)
    for v in VARIANTS:
        row(f"voted answers, refitted gate [{v}]", refit[v], voted)
    out["_vote_acc"] = float(np.mean(voted == y))
    return out


seeds = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "0").split(",")]
results = [run(s) for s in seeds]
print(f"RAM {np.mean(ram == y):.4f}, plain lookup {np.mean(plain == y):.4f}, voted (out of fold) "
      + ", ".join(f"{r['_vote_acc']:.4f}" for r in results))
print(f"{'variant':60s} AUC    at80    at90   (mean of {len(seeds)} fold seeds)")
for name in results[0]:
    if name.startswith("_"):
        continue
    a = np.mean([r[name] for r in results], axis=0)
    print(f"{name:60s} {a[0]:.4f} {100 * a[1]:.2f}% {100 * a[2]:.2f}%")
