"""A learned vote that also learns from shifted digits, on the 1px table (issue 16, validation only).

V0 is the recorded vote's recipe (fitted on the 10,000 clean validation digits); V1 adds the first ``SHIFTED``
validation digits shifted by 1 px in 4 directions to its training rows, V2 by 1 and 2 px. Everything is out of fold
with folds by digit (`mbi.inference.vote.fold_parts` of the 10,000 digits): a digit's shifted copies lie in its
fold, so no answer comes from a vote fitted on that digit in any position. Reported per variant: C (from
``C_CHOICES`` by pooled out-of-fold accuracy over the variant's training rows; V0: the recorded vote's), clean
out-of-fold accuracy on the 10,000, and on the first ``SHIFTED`` digits clean and under each shift, with the loss
against the RAM's on the same images (the target: lose at most 2x what the RAM loses).

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/vote_shifted.py
"""
import dataclasses
import json

import numpy as np

from mbi.data import load_mnist
from mbi.inference.robustness import STANDARD, perturbed_images_id
from mbi.inference.vote import FOLDS, _fit_numbers, _logits, fold_parts, read_vote, vote_features
from mbi.memory.lut import cached_table
from mbi.model.checkpoint import Checkpoint
from mbi.model.predict import predict
from mbi.runs.gatecache import cached_neighbours
from mbi.runs.tracecache import cached_trace

K = 16
SHIFTED = 2000
C_CHOICES = (0.03, 0.1, 0.3)
SHIFTS = [p for p in STANDARD if p.kind == "shift"]

ck = Checkpoint.of("default")
m = load_mnist()
w = ck.lookup.chosen_weights
recipe = dataclasses.replace(ck.lookup.table, shifts="1px")
table = cached_table(ck, recipe=recipe)
steps = table.num_glimpses
n_features = 3 * steps * 10 + 10
x, y = m.val_x[:10000], m.val_y[:10000]
part = fold_parts(len(y), FOLDS)

tr = cached_trace(ck.model, table, x, "val:10000", w)
clean = vote_features(tr, cached_neighbours(table, w, tr, "val:10000", K), table, m.train_y)
shifted = {}
ram = {"clean_first": float(np.mean(predict(ck.model, x[:SHIFTED]) == y[:SHIFTED]))}
for p in SHIFTS:
    xs = p.apply(x[:SHIFTED])
    ident = perturbed_images_id(f"val:{SHIFTED}", p)
    trs = cached_trace(ck.model, table, xs, ident, w)
    shifted[p.name] = vote_features(trs, cached_neighbours(table, w, trs, ident, K), table, m.train_y)
    ram[p.name] = float(np.mean(predict(ck.model, xs) == y[:SHIFTED]))
ram_loss = {px: ram["clean_first"] - float(np.mean([ram[p.name] for p in SHIFTS if p.pixels == px])) for px in (1, 2)}
print(json.dumps({"ram": ram, "ram_loss": ram_loss}), flush=True)

variants = {"V0": [], "V1": [p.name for p in SHIFTS if p.pixels == 1], "V2": [p.name for p in SHIFTS]}
recorded_c = read_vote(ck.folder, recipe).c


def training_rows(names, fold):
    """Features and labels of the rows a vote of this fold is fitted on: clean digits outside ``fold`` and the
    shifted copies ``names`` of the first SHIFTED digits outside it."""
    keep = part != fold
    first = keep[:SHIFTED]
    xs = [clean[keep]] + [shifted[n][first] for n in names]
    ys = [y[keep]] + [y[:SHIFTED][first]] * len(names)
    return np.concatenate(xs), np.concatenate(ys)


for name, names in variants.items():
    fits = {}
    for c in ([recorded_c] if name == "V0" else C_CHOICES):
        fits[c] = [_fit_numbers(*training_rows(names, f), c, n_features, 10) for f in range(FOLDS)]
    pooled = {}
    for c, numbers in fits.items():
        right = total = 0
        for f in range(FOLDS):
            held = part == f
            right += int(np.sum(_logits(clean[held], *numbers[f]).argmax(1) == y[held]))
            total += int(held.sum())
            for n in names:
                h = held[:SHIFTED]
                right += int(np.sum(_logits(shifted[n][h], *numbers[f]).argmax(1) == y[:SHIFTED][h]))
                total += int(h.sum())
        pooled[f"{c:g}"] = right / total
    c = max(fits, key=lambda v: (pooled[f"{v:g}"], -v))
    numbers = fits[c]

    def answer(features, parts):
        out = np.empty(len(features), dtype=np.int64)
        for f in range(FOLDS):
            out[parts == f] = _logits(features[parts == f], *numbers[f]).argmax(1)
        return out

    res = {"variant": name, "trained_on_shifts": names, "c": c, "pooled_oof": pooled,
           "clean_oof": float(np.mean(answer(clean, part) == y)),
           "clean_first_oof": float(np.mean(answer(clean[:SHIFTED], part[:SHIFTED]) == y[:SHIFTED]))}
    for p in SHIFTS:
        res[p.name] = float(np.mean(answer(shifted[p.name], part[:SHIFTED]) == y[:SHIFTED]))
    for px in (1, 2):
        loss = res["clean_first_oof"] - float(np.mean([res[p.name] for p in SHIFTS if p.pixels == px]))
        res[f"loss_{px}px"], res[f"within_2x_{px}px"] = loss, bool(loss <= 2 * ram_loss[px])
    print(json.dumps(res), flush=True)
