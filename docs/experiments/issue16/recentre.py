"""Direction tried: re-centre each digit by its centre of mass before the glimpses (a sensor-side fix)."""
import sys, json
import numpy as np
from mbi.model.checkpoint import Checkpoint
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.inference.robustness import parse_perturbation
from mbi.memory.lut import shift_images
from mbi.model.predict import predict
ck = Checkpoint.of("default"); m = load_mnist(); table = ck.table()
N = int(sys.argv[1]); X, Y = m.val_x[:N], m.val_y[:N]
def com(imgs):
    r, c = np.indices(imgs.shape[1:]); w = imgs.astype(np.float64); s = w.sum((1, 2))
    return np.stack([(w * r).sum((1, 2)) / s, (w * c).sum((1, 2)) / s], 1)
target = com(m.train_x).mean(0); print("train centre of mass", target)
def recentre(imgs):
    off = np.rint(target - com(imgs)).astype(int)
    out = np.empty_like(imgs)
    for (dy, dx) in {tuple(o) for o in off}:
        sel = np.all(off == (dy, dx), axis=1); out[sel] = shift_images(imgs[sel], dy, dx) if (dy, dx) != (0, 0) else imgs[sel]
    return out
index = StepIndex(table, ck.lookup.chosen_weights)
res = {}
for p in sys.argv[2].split(","):
    x = recentre(parse_perturbation(p).apply(X))
    res[p] = (float((predict(ck.model, x) == Y).mean()), float((lookup_infer(ck.model, table, x, index=index).prediction == Y).mean()))
    print(p, res[p], flush=True)
for g in ("-1", "-2"):
    v = [res[k] for k in res if k.endswith(g)]
    print("shift", g, "RAM", np.mean([a for a, _ in v]), "lookup", np.mean([b for _, b in v]))
