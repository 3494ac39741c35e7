"""A mixed-MBI fallback that hears the lookup (issue 16, RESULTS "Sixth round"; validation only).

The shipped gate (out-of-fold scores, fold seed 0, as ``python -m mbi gate default --fit`` grades it) sends the
doubtful digits to the RAM. F0 answers them with the RAM's class; F1 with argmax(log p_RAM + log p_vote), p_vote the
shipped learned vote's out-of-fold class probabilities (C of the recorded vote); F2 with argmax(log p_RAM + beta
log p_vote), beta from ``BETAS`` chosen nested: for each outer fold, the beta best at 80% by lookup on the other four
folds. Printed: mixed accuracy at 80% and 90% by lookup for each, the beta F2 picks per fold and on all digits, and
how many of the sent digits each fallback gets right.

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/fused_fallback.py
"""
import json

import numpy as np
import torch

from mbi.data import load_mnist
from mbi.inference.gate import LearnedGate, accuracy_at_share, gate_curve, out_of_fold_scores
from mbi.inference.vote import fold_parts, out_of_fold_scores as vote_oof_scores, read_vote, vote_features
from mbi.model.checkpoint import Checkpoint
from mbi.model.predict import PREDICT_BATCH, images_to_tensor
from mbi.runs.gatecache import gate_inputs

BETAS = (0.25, 0.5, 1.0, 2.0, 4.0)
SHARES = (0.8, 0.9)

ck = Checkpoint.of("default")
m = load_mnist()
w = ck.lookup.chosen_weights
table = ck.table()
x, y = m.val_x, m.val_y
gate = LearnedGate.from_dict(dict(ck.gates().gate))
inputs = gate_inputs(ck.model, table, x, y, m.train_y, w, f"val:{len(y)}", gate.k, list(gate.features))
score = out_of_fold_scores(inputs.features, inputs.wrong, list(gate.features), gate.k)
vote = read_vote(ck.folder)
vote.check_table(table, w, gate.k)
vf = vote_features(inputs.trace, inputs.neighbours, table, m.train_y)
vote_logp = torch.log_softmax(torch.from_numpy(vote_oof_scores(vf, y, vote.c, steps=vote.steps)), 1).numpy()
with torch.no_grad():
    ck.model.eval()
    t = images_to_tensor(x)
    ram_logp = torch.cat([torch.log_softmax(ck.model(t[i:i + PREDICT_BATCH]).logits, 1)
                          for i in range(0, len(t), PREDICT_BATCH)]).numpy()
assert np.array_equal(ram_logp.argmax(1), inputs.ram_pred)
lookup = inputs.trace.prediction


def fused(beta):
    return (ram_logp + beta * vote_logp).argmax(1)


def mixed(fallback, at=None, share=0.8):
    """Mixed accuracy at ``share`` by lookup (lowest scores kept) over the digits ``at`` (all when None)."""
    at = np.ones(len(y), bool) if at is None else at
    return accuracy_at_share(gate_curve(score[at], lookup[at], fallback[at], y[at]), share).accuracy


part = fold_parts(len(y))  # outer folds for beta (the gate's and vote's out-of-fold folds are their own)
f2 = np.empty(len(y), dtype=np.int64)
picked = []
for f in range(5):
    rest = part != f
    beta = max(BETAS, key=lambda b: (round(mixed(fused(b), rest), 6), -abs(np.log(b))))
    picked.append(beta)
    f2[~rest] = fused(beta)[~rest]
beta_all = max(BETAS, key=lambda b: (round(mixed(fused(b)), 6), -abs(np.log(b))))
res = {"ram": float(np.mean(inputs.ram_pred == y)), "lookup": float(np.mean(lookup == y)),
       "vote_oof": float(np.mean(vote_logp.argmax(1) == y)), "beta_per_fold": picked, "beta_all": beta_all,
       "fused_all_digits": {f"{b:g}": float(np.mean(fused(b) == y)) for b in BETAS}}
for name, fb in (("F0", inputs.ram_pred), ("F1", fused(1.0)), ("F2", f2)):
    res[name] = {f"{s:g}": mixed(fb, share=s) for s in SHARES}
    sent = score > accuracy_at_share(gate_curve(score, lookup, fb, y), 0.8).threshold
    res[name]["sent_at_0.8"] = int(sent.sum())
    res[name]["sent_right"] = int(np.sum(fb[sent] == y[sent]))
    res[name]["sent_lookup_right_fallback_wrong"] = int(np.sum((lookup[sent] == y[sent]) & (fb[sent] != y[sent])))
print(json.dumps(res, indent=1))
