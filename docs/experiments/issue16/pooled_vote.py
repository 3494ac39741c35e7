"""Lookup-only answers from a vote pooled over every step's k nearest rows (issue 16, validation only).

Each of the 16 nearest rows of each of the 4 steps votes for the class of its training digit (source) or its
readout, weighted by exp(-(d - d_best) / tau) and by a per-step weight; the class with most weight answers. Needs
the trace and 16 neighbours of the 10,000 validation digits cached (``python -m mbi gate default --fit``).

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/pooled_vote.py
"""
import json

import numpy as np

from mbi.data import load_mnist
from mbi.model.checkpoint import Checkpoint
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace

ck = Checkpoint.of("default")
m = load_mnist()
table = ck.table()
w = ck.lookup.chosen_weights
x, y = m.val_x[:10000], m.val_y[:10000]
tr = cached_trace(ck.model, table, x, "val:10000", w)
nb = cached_neighbours(table, w, tr, "val:10000", 16)
print(json.dumps({"plain lookup": float((tr.prediction == y).mean())}))
labels = {"source": m.train_y[table.source[nb.rows]], "readout": table.readout[nb.rows].astype(np.int64)}
d = nb.distance
for what, lab in labels.items():
    for steps in ([3], [0], [0, 1, 2, 3], [2, 3]):
        for k in (1, 4, 16):
            for tau in (0.5, 2.0, np.inf):
                wt = np.exp(-(d[:, steps, :k] - d[:, steps, :1]) / tau)
                votes = np.zeros((len(y), 10))
                np.add.at(votes, (np.arange(len(y))[:, None, None].repeat(len(steps), 1).repeat(k, 2), lab[:, steps, :k]), wt)
                acc = float((votes.argmax(1) == y).mean())
                print(json.dumps({"labels": what, "steps": [s + 1 for s in steps], "k": k, "tau": tau, "accuracy": acc}))

# A learned vote: a 10-class logistic regression (fitted out of fold, 5 folds) on each step's per-class shares of the
# 16 nearest rows' source classes and readouts, the location agreement per class and the plain answer (one-hot).
from sklearn.linear_model import LogisticRegression  # noqa: E402

share = lambda lab: np.stack([(lab == c).mean(2) for c in range(10)], 2).reshape(len(y), -1)  # noqa: E731
feats = np.concatenate([share(labels["source"]), share(labels["readout"]), np.eye(10)[tr.prediction]], 1)
part = np.random.default_rng(0).permutation(len(y)) % 5
# + per step and class, the nearest of the 16 rows of that class minus the best (censored at d16 + 1), standardized
near = np.stack([np.where(labels["source"] == c, d, np.inf).min(2) for c in range(10)], 2)
near = (np.minimum(near, d[:, :, -1:] + 1.0) - d[:, :, :1]).reshape(len(y), -1)
for name, fx in (("shares + answer", feats), ("shares + answer + class distances", np.concatenate([feats, near], 1))):
    fx = (fx - fx.mean(0)) / np.where(fx.std(0) > 0, fx.std(0), 1)
    for c in (0.01, 0.03, 0.1, 1.0, 10.0):
        pred = np.empty(len(y), dtype=np.int64)
        for f in range(5):
            held = part == f
            pred[held] = LogisticRegression(C=c, max_iter=3000).fit(fx[~held], y[~held]).predict(fx[held])
        print(json.dumps({"learned vote": name, "C": c, "accuracy": float((pred == y).mean())}))
