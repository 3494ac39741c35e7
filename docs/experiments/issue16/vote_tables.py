"""The learned vote on each table recipe (none, 1px, 2px shifted replays), clean and shifted (issue 16, validation).

For each recipe: the full table of that recipe (distilled once, cached), the lookups and 16 nearest rows per glimpse
of the 10,000 validation digits (BO weights, exact search), a learned vote fitted on them with C chosen by 5-fold
out-of-fold accuracy (`mbi.inference.vote.choose_c`, as `python -m mbi vote --fit` does). Shifted digits: the first
``SHIFTED`` validation digits moved by 1 and 2 px in 4 directions (zero fill); each is answered by the vote fitted on
the clean digits of the four folds it is not in (so no digit is answered by a vote fitted on it). The RAM's accuracy
on the same images is the reference of the shift target (lose at most 2x what the RAM loses).

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/vote_tables.py [RECIPE ...]
"""
import dataclasses
import json
import sys

import numpy as np

from mbi.data import load_mnist
from mbi.inference.robustness import STANDARD, perturbed_images_id
from mbi.inference.vote import FOLDS, _fit_numbers, _logits, choose_c, fold_parts, vote_features
from mbi.memory.lut import cached_table
from mbi.model.checkpoint import Checkpoint
from mbi.model.predict import predict
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace

K = 16
SHIFTED = 2000
SHIFTS = [p for p in STANDARD if p.kind == "shift"]

ck = Checkpoint.of("default")
m = load_mnist()
w = ck.lookup.chosen_weights
x, y = m.val_x[:10000], m.val_y[:10000]
part = fold_parts(len(y), FOLDS)
ram = {"clean": float(np.mean(predict(ck.model, x) == y))}
for p in SHIFTS:
    ram[p.name] = float(np.mean(predict(ck.model, p.apply(x[:SHIFTED])) == y[:SHIFTED]))
ram_clean_part = float(np.mean(predict(ck.model, x[:SHIFTED]) == y[:SHIFTED]))
print(json.dumps({"ram": ram, "ram_clean_first": ram_clean_part}), flush=True)

for shifts in sys.argv[1:] or ["none", "1px", "2px"]:
    table = cached_table(ck, recipe=dataclasses.replace(ck.lookup.table, shifts=shifts))
    steps = table.num_glimpses
    tr = cached_trace(ck.model, table, x, "val:10000", w)
    nb = cached_neighbours(table, w, tr, "val:10000", K)
    feats = vote_features(tr, nb, table, m.train_y)
    best, curve = choose_c(feats, y, steps=steps)
    numbers = [_fit_numbers(feats[part != f], y[part != f], best, 3 * steps * 10 + 10, 10) for f in range(FOLDS)]
    out = {"recipe": shifts, "rows": len(table), "plain_clean": float(np.mean(tr.prediction == y)),
           "vote_clean_oof": curve[f"{best:g}"], "c": best, "curve": curve,
           "plain_clean_first": float(np.mean(tr.prediction[:SHIFTED] == y[:SHIFTED]))}
    held = part[:SHIFTED]
    vote_first = np.empty(SHIFTED, dtype=np.int64)
    for f in range(FOLDS):
        vote_first[held == f] = _logits(feats[:SHIFTED][held == f], *numbers[f]).argmax(1)
    out["vote_clean_first_oof"] = float(np.mean(vote_first == y[:SHIFTED]))
    for p in SHIFTS:
        xs = p.apply(x[:SHIFTED])
        ident = perturbed_images_id(f"val:{SHIFTED}", p)
        trs = cached_trace(ck.model, table, xs, ident, w)
        nbs = cached_neighbours(table, w, trs, ident, K)
        fs = vote_features(trs, nbs, table, m.train_y)
        pred = np.empty(SHIFTED, dtype=np.int64)
        for f in range(FOLDS):
            pred[held == f] = _logits(fs[held == f], *numbers[f]).argmax(1)
        out[f"plain_{p.name}"] = float(np.mean(trs.prediction == y[:SHIFTED]))
        out[f"vote_{p.name}"] = float(np.mean(pred == y[:SHIFTED]))
    for kind in ("plain", "vote"):
        for px in (1, 2):
            names = [p.name for p in SHIFTS if p.pixels == px]
            base = out["plain_clean_first"] if kind == "plain" else out["vote_clean_first_oof"]
            loss = base - float(np.mean([out[f"{kind}_{n}"] for n in names]))
            ram_loss = ram_clean_part - float(np.mean([ram[n] for n in names]))
            out[f"{kind}_loss_{px}px"], out[f"ram_loss_{px}px"] = loss, ram_loss
            out[f"{kind}_within_2x_{px}px"] = bool(loss <= 2 * ram_loss)
    print(json.dumps(out), flush=True)
