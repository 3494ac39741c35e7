"""Prototype: a distance-weighted vote of the k nearest rows' source labels at step s decides which row to follow."""
import sys, time, json
import numpy as np, torch
from mbi.model.checkpoint import Checkpoint
from mbi.memory.lut import cached_table, load_table, query_key
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex
from mbi.search.searchers import k_smallest as _k_smallest
from mbi.inference.robustness import parse_perturbation
from mbi.model.predict import images_to_tensor
from mbi.search.distance import pack, packed_distances
from mbi.search.weights import check_weights

ck = Checkpoint.of("default")
table = load_table(sys.argv[1], ck.hash) if sys.argv[1] != "-" else cached_table(ck)
N = int(sys.argv[2]); perts = sys.argv[3].split(","); vote_steps = [int(v) for v in sys.argv[4].split(",")]
ks = [int(v) for v in sys.argv[5].split(",")]
split = sys.argv[6] if len(sys.argv) > 6 else "val"
w = ck.lookup.chosen_weights
model = ck.model; m = load_mnist(); X, Y = m.split(split); X, Y = X[:N], Y[:N]
labels = m.train_y[table.source].astype(np.int64)
index = StepIndex(table, w)
packed = {}
KMAX = max(ks)

def knn(t, q, k):
    if t not in packed: packed[t] = pack(table.keys[index.rows[t]], table.layout)
    qp = pack(table.layout.check_keys(q, "q"), table.layout)
    rows = np.empty((len(q), k), np.int64); dist = np.empty((len(q), k))
    for s in range(0, len(q), 64):
        c, d = _k_smallest(packed_distances(qp.take(np.arange(s, min(s + 64, len(q)))), packed[t], w), k)
        rows[s:s+len(c)] = index.rows[t][c]; dist[s:s+len(c)] = d
    return rows, dist

def choose(rows, dist, k, scheme):
    r, d = rows[:, :k], dist[:, :k]
    lab = labels[r]
    if scheme == "count": wt = np.ones_like(d)
    elif scheme == "inv": wt = 1.0 / (d + 1e-3)
    else: wt = np.exp(-(d - d[:, :1]) / float(scheme))
    votes = np.zeros((len(r), 10)); np.add.at(votes, (np.repeat(np.arange(len(r)), k), lab.reshape(-1)), wt.reshape(-1))
    cls = votes.argmax(1)
    pick = (lab == cls[:, None]).argmax(1)  # nearest row of the voted class
    return r[np.arange(len(r)), pick], cls

SCHEMES = ["count", "inv", "1", "3"]

@torch.no_grad()
def run(images):
    x = images_to_tensor(images); B = len(x)
    _, l0 = model.initial_state(B)
    state = {"base": (np.zeros((B, table.layout.hidden_len), np.uint8), l0.numpy().astype(np.uint8))}
    configs = {"base": None}
    for k in ks:
        for sc in SCHEMES:
            configs[(k, sc)] = (k, sc)
    states = {c: state["base"] for c in configs}
    voted = {}
    for t in range(table.num_glimpses):
        # group configs with identical state? just run each
        new = {}
        for c, (hidden, loc) in states.items():
            rho = model.retina.quantizer.codes(model.retina(x, torch.from_numpy(loc.astype(np.int64))))
            q = query_key(rho, hidden, loc)
            if c != "base" and t in vote_steps:
                rows, dist = knn(t, q, KMAX)
                r, cls = choose(rows, dist, c[0], c[1])
                voted.setdefault(c, cls)
            else:
                r, _, _ = index.query(t, q)
            new[c] = (table.next_hidden[r], table.next_loc[r], r)
        states = {c: v[:2] for c, v in new.items()}
        last = {c: v[2] for c, v in new.items()}
    return {c: table.readout[r] for c, r in last.items()}, voted

for p in perts:
    s = time.perf_counter()
    preds, voted = run(parse_perturbation(p).apply(X))
    base = float((preds["base"] == Y).mean())
    print(p, "base", base, f"({time.perf_counter()-s:.0f}s)")
    for c in preds:
        if c != "base":
            print(" ", c, "final", float((preds[c] == Y).mean()), "voted class", float((voted[c] == Y).mean()))
