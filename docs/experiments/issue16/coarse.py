"""Prototype: coarser location codes in the key (table and queries), on validation, clean and shifted."""
import sys, time, json, dataclasses
import numpy as np, torch
from mbi.model.checkpoint import Checkpoint
from mbi.memory.lut import cached_table, load_table, query_key
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex
from mbi.inference.robustness import parse_perturbation
from mbi.model.predict import images_to_tensor
from mbi.search.distance import KeyLayout
from mbi.search.weights import check_weights

ck = Checkpoint.of("default")
table = load_table(sys.argv[1], ck.hash) if sys.argv[1] != "-" else cached_table(ck)
N = int(sys.argv[2]); perts = sys.argv[3].split(","); factors = [int(f) for f in sys.argv[4].split(",")]
wsets = [check_weights([float(v) for v in w.split(",")]) for w in sys.argv[5].split(";")] if len(sys.argv) > 5 else [ck.lookup.chosen_weights]
model = ck.model; m = load_mnist(); X, Y = m.val_x[:N], m.val_y[:N]
lay = table.layout

def coarse_table(f):
    if f == 1:
        return table, lay
    keys = table.keys.copy(); keys[:, -2:] //= f
    nl = KeyLayout(lay.patch_len, lay.patch_levels, lay.hidden_len, lay.hidden_levels, -(-lay.loc_levels // f))
    return dataclasses.replace(table, keys=keys, layout=nl), nl

@torch.no_grad()
def run(tab, index, images, f):
    x = images_to_tensor(images); B = len(x)
    hidden = np.zeros((B, lay.hidden_len), np.uint8); _, l0 = model.initial_state(B); loc = l0.numpy().astype(np.uint8)
    for t in range(tab.num_glimpses):
        rho = model.retina.quantizer.codes(model.retina(x, torch.from_numpy(loc.astype(np.int64))))
        q = query_key(rho, hidden, loc); q[:, -2:] //= f
        r, d, _ = index.query(t, q)
        hidden = tab.next_hidden[r]; loc = tab.next_loc[r]
    return tab.readout[r]

for f in factors:
    tab, nl = coarse_table(f)
    for w in wsets:
        index = StepIndex(tab, w)
        res = {"factor": f, "weights": w}
        s = time.perf_counter()
        for p in perts:
            res[p] = float((run(tab, index, parse_perturbation(p).apply(X), f) == Y).mean())
        res["s"] = round(time.perf_counter() - s, 1)
        print(json.dumps(res), flush=True)
