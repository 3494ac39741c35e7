"""Third round of the gate (issue 16): non-linear models, new neighbourhood features, a benefit target.

Validation only. Every variant is scored out of fold (5 folds) on all 10,000 validation digits,
repeated over 3 fold seeds (the mean is printed: one digit is 0.01 points, so single splits are noisy).
Needs the trace and the 16 neighbours cached (``python -m mbi gate default --fit`` with the same MBI_HOME).

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/gate_nl.py [VARIANT ...]
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from mbi.data import load_mnist
from mbi.inference.gate import accuracy_at_share, error_auc, feature_names, gate_curve, gate_features
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
wrong = tr.prediction != y
ram_ok = ram == y
names = feature_names(table.num_glimpses)
base = gate_features(tr, nb, table, m.train_y)
pred = tr.prediction.astype(np.int64)
src = m.train_y[table.source[nb.rows]]  # [B, T, k] class of each neighbour's training digit
rd = table.readout[nb.rows].astype(np.int64)  # [B, T, k] each neighbour's readout
d = nb.distance


def vote_margin(labels: np.ndarray) -> np.ndarray:
    """share of the answer's class minus the largest share of another class, per step ([B, T])."""
    counts = np.stack([(labels == c).mean(2) for c in range(10)], axis=2)  # [B, T, 10]
    own = np.take_along_axis(counts, pred[:, None, None].repeat(labels.shape[1], 1), axis=2)[:, :, 0]
    other = np.where(np.arange(10)[None, None] == pred[:, None, None], -1.0, counts).max(2)
    return own - other


extras = {
    "readout_agree": (rd == pred[:, None, None]).mean(2),  # per step
    "source_vote_margin": vote_margin(src),
    "readout_vote_margin": vote_margin(rd),
    "wagree": (lambda wt: ((src == pred[:, None, None]) * wt).sum(2) / wt.sum(2))(np.exp(-(d - d[:, :, :1]))),
    "readout_class_margin": (lambda other: np.where(other.any(2), np.take_along_axis(d, other.argmax(2)[:, :, None], 2)[:, :, 0],
                                                    d[:, :, -1] + 1.0) - d[:, :, 0])(rd != pred[:, None, None]),
    "first_readout_agree": (tr.readouts == pred[:, None]).astype(float),
    "mean_d": d.mean(2) - d[:, :, :1].mean(2),
}


def _loc_agree() -> np.ndarray:
    """per step: count-weighted share of the table's rows at the query's location whose digit is of the answer's class."""
    loc_cols = table.layout.part_cols[2]
    out = np.zeros((N, table.num_glimpses))
    cls = m.train_y[table.source]
    for t in range(table.num_glimpses):
        rows = table.rows_of_step(t)
        lk = table.keys[rows][:, loc_cols].astype(np.int64) @ np.array([64, 1])
        hist = np.zeros((64 * 64, 10))
        np.add.at(hist, (lk, cls[rows]), table.count[rows])
        ql = tr.queries[:, t][:, loc_cols].astype(np.int64) @ np.array([64, 1])
        out[:, t] = hist[ql, pred] / np.maximum(hist[ql].sum(1), 1)
    return out


def _parts() -> dict:
    """per step: the matched row's patch / hidden / location Manhattan distances."""
    k = table.keys[tr.rows].astype(np.int64)  # [B, T, D]
    q = tr.queries.astype(np.int64)
    return {f"part{i}": np.abs(q[:, :, c] - k[:, :, c]).sum(2).astype(float) for i, c in enumerate(table.layout.part_cols)}


extras["loc_agree"] = _loc_agree()
extras.update(_parts())


def features(extra: list[str]) -> np.ndarray:
    return np.concatenate([base] + [extras[e] for e in extra], axis=1) if extra else base


def standardize(xtr, xte):
    mu, sd = xtr.mean(0), xtr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return (xtr - mu) / sd, (xte - mu) / sd


def fit_score(kind: str, xtr, ytr, xte, wtr=None):
    xtr, xte = standardize(xtr, xte)
    if kind.startswith("lr"):
        c = float(kind[2:] or 1)
        mdl = LogisticRegression(C=c, class_weight=None if wtr is not None else "balanced", max_iter=3000)
        mdl.fit(xtr, ytr, sample_weight=wtr)
        return mdl.decision_function(xte)
    if kind.startswith("quad"):  # logistic on features + their pairwise products, strong L2
        c = float(kind[4:] or 0.05)
        iu = np.triu_indices(xtr.shape[1])
        q = lambda a: np.concatenate([a, (a[:, :, None] * a[:, None, :])[:, iu[0], iu[1]]], 1)  # noqa: E731
        mdl = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(q(xtr), ytr)
        return mdl.decision_function(q(xte))
    if kind.startswith("bins"):  # per-feature quantile bins, one-hot, logistic (an additive model)
        nbins = int(kind[4:] or 8)
        qs = [np.unique(np.quantile(xtr[:, j], np.linspace(0, 1, nbins + 1)[1:-1])) for j in range(xtr.shape[1])]
        oh = lambda a: np.concatenate([np.eye(len(e) + 1)[np.searchsorted(e, a[:, j], side="right")]  # noqa: E731
                                       for j, e in enumerate(qs)], 1)
        mdl = LogisticRegression(C=0.1, class_weight="balanced", max_iter=5000).fit(np.concatenate([oh(xtr), xtr], 1), ytr)
        return mdl.decision_function(np.concatenate([oh(xte), xte], 1))
    if kind.startswith("mlp"):  # mlpH-alpha-seeds
        parts = kind[3:].split("-")
        h, alpha, seeds = int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) > 2 else 1
        sw = np.where(ytr, (~ytr).sum() / ytr.sum(), 1.0) if wtr is None else wtr
        out = 0
        for s in range(seeds):
            mdl = MLPClassifier((h,), activation="tanh", alpha=alpha, max_iter=500, random_state=s, solver="lbfgs")
            mdl.fit(xtr, ytr, sample_weight=sw)
            p = np.clip(mdl.predict_proba(xte)[:, 1], 1e-12, 1 - 1e-12)
            out = out + np.log(p / (1 - p))
        return out / seeds
    raise ValueError(kind)


def evaluate(name: str, x: np.ndarray, kind: str = "lr", target: str = "wrong", seeds=(0, 1, 2)):
    res = []
    for seed in seeds:
        part = np.random.default_rng(seed).permutation(N) % 5
        s = np.empty(N)
        for f in range(5):
            held = part == f
            if target == "wrong":
                s[held] = fit_score(kind, x[~held], wrong[~held], x[held])
            else:  # benefit: positives lookup wrong & RAM right; lookup-right-RAM-wrong negatives weigh more
                yb = wrong & ram_ok
                wt = np.where(yb, 1.0, 1.0)
                wt = np.where(~wrong & ~ram_ok, float(target.split(":")[1]), wt)  # lookup right, RAM wrong
                wt = np.where(wrong & ~ram_ok, 0.0, wt)  # both wrong: no matter
                wt = wt * np.where(yb, (~yb).sum() / yb.sum(), 1.0)
                s[held] = fit_score(kind, x[~held][wt[~held] > 0], yb[~held][wt[~held] > 0], x[held], wt[~held][wt[~held] > 0])
        curve = gate_curve(s, tr.prediction, ram, y)
        res.append((error_auc(s, wrong), accuracy_at_share(curve, 0.8).accuracy, accuracy_at_share(curve, 0.9).accuracy))
    r = np.array(res)
    print(json.dumps({"variant": name, "model": kind, "target": target, "auc": round(r[:, 0].mean(), 4),
                      "at80": round(100 * r[:, 1].mean(), 3), "at90": round(100 * r[:, 2].mean(), 3),
                      "at80_per_seed": [round(100 * v, 2) for v in r[:, 1]]}), flush=True)


if __name__ == "__main__":
    dist = tr.max_distance.astype(float)
    curve = gate_curve(dist, tr.prediction, ram, y)
    print(json.dumps({"variant": "distance gate", "auc": round(error_auc(dist, wrong), 4),
                      "at80": 100 * accuracy_at_share(curve, 0.8).accuracy, "lookup": float(1 - wrong.mean()),
                      "ram": float(ram_ok.mean()), "both_wrong": int((wrong & ~ram_ok).sum()),
                      "lookup_wrong_ram_right": int((wrong & ram_ok).sum()), "lookup_right_ram_wrong": int((~wrong & ~ram_ok).sum())}))
    for spec in sys.argv[1:]:
        parts = spec.split("/")
        extra_s, kind, target = parts[0], (parts[1:2] or ["lr"])[0], (parts[2:3] or ["wrong"])[0]
        extra = [e for e in extra_s.split("+") if e and e != "base"]
        evaluate(spec, features(extra), kind, target)
