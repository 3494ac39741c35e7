"""Prototype: beam / k-candidate lookups on validation (clean and shifted)."""
import sys, time, json
import numpy as np, torch
from mbi.model.checkpoint import Checkpoint
from mbi.memory.lut import cached_table, load_table, query_key
from mbi.data import load_mnist
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.search.searchers import k_smallest as _k_smallest
from mbi.inference.robustness import parse_perturbation
from mbi.model.predict import images_to_tensor
from mbi.search.distance import pack, packed_distances, check_weights

ck = Checkpoint.of("default")
table = load_table(sys.argv[1], ck.hash) if len(sys.argv) > 1 and sys.argv[1] != "-" else cached_table(ck)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
perts = sys.argv[3].split(",") if len(sys.argv) > 3 else ["clean"]
configs = json.loads(sys.argv[4]) if len(sys.argv) > 4 else [[[1, 1, 1, 1], 1]]
weights = check_weights(ck.lookup.chosen_weights) if len(sys.argv) <= 5 or sys.argv[5].startswith("--") else check_weights([float(v) for v in sys.argv[5].split(",")])
model = ck.model
m = load_mnist()
X, Y = m.val_x[:N], m.val_y[:N]
index = StepIndex(table, weights)
packed_steps = [pack(table.keys[r], table.layout) for r in index.rows]

def knn(t, q, k):
    qp = pack(table.layout.check_keys(q, "q"), table.layout)
    rows = np.empty((len(q), k), np.int64); dist = np.empty((len(q), k))
    for s in range(0, len(q), 64):
        blk = qp.take(np.arange(s, min(s + 64, len(q))))
        c, d = _k_smallest(packed_distances(blk, packed_steps[t], weights), k)
        rows[s:s+len(c)] = index.rows[t][c]; dist[s:s+len(c)] = d
    return rows, dist

@torch.no_grad()
def beam(images, ks, keep):
    x = images_to_tensor(images)
    B = len(x); T = table.num_glimpses
    # states: arrays over (B*S)
    img = np.arange(B); hidden = np.zeros((B, table.layout.hidden_len), np.uint8)
    _, loc0 = model.initial_state(B); loc = loc0.numpy().astype(np.uint8); cum = np.zeros(B)
    for t in range(T):
        rho = model.retina.quantizer.codes(model.retina(x[torch.from_numpy(img)], torch.from_numpy(loc.astype(np.int64))))
        q = query_key(rho, hidden, loc)
        k = ks[t]
        if k == 1:
            r, d, _ = index.query(t, q); r = r[:, None]; d = d[:, None]
        else:
            r, d = knn(t, q, k)
        ni = np.repeat(img, r.shape[1]); nr = r.reshape(-1); nc = (cum[:, None] + d).reshape(-1)
        # dedupe (image,row) keep min cum, then keep top `keep` per image
        order = np.lexsort((nc, nr, ni)); ni, nr, nc = ni[order], nr[order], nc[order]
        first = np.ones(len(ni), bool); first[1:] = (ni[1:] != ni[:-1]) | (nr[1:] != nr[:-1])
        ni, nr, nc = ni[first], nr[first], nc[first]
        order = np.lexsort((nr, nc, ni)); ni, nr, nc = ni[order], nr[order], nc[order]
        start = np.r_[0, np.flatnonzero(ni[1:] != ni[:-1]) + 1]
        rank = np.arange(len(ni)) - np.repeat(start, np.diff(np.r_[start, len(ni)]))
        sel = rank < keep
        img, rows, cum = ni[sel], nr[sel], nc[sel]
        hidden = table.next_hidden[rows]; loc = table.next_loc[rows]
    readout = table.readout[rows]
    return img, readout, cum

def decide(img, readout, cum, B, tau):
    best = np.full(B, -1); 
    # min cumulative distance: first of each image (sorted by cum)
    start = np.r_[0, np.flatnonzero(img[1:] != img[:-1]) + 1]
    best[img[start]] = readout[start]
    votes = np.zeros((B, 10))
    if tau > 0:
        w = np.exp(-(cum - np.repeat(cum[start], np.diff(np.r_[start, len(img)]))) / tau)
        np.add.at(votes, (img, readout), w)
    return best, votes.argmax(1)

for pname in perts:
    xp = parse_perturbation(pname).apply(X)
    for ks, keep in configs:
        s = time.perf_counter()
        img, ro, cum = beam(xp, ks, keep)
        best, vote = decide(img, ro, cum, len(xp), 0.5)
        res = {"pert": pname, "ks": ks, "keep": keep, "min_total": float((best == Y).mean())}
        for tau in (0.25, 1.0, 4.0):
            res[f"vote{tau}"] = float((decide(img, ro, cum, len(xp), tau)[1] == Y).mean())
        res["s"] = round(time.perf_counter() - s, 1)
        print(json.dumps(res), flush=True)

if "--debug" in sys.argv:
    img, ro, cum = beam(X[:300], [8,1,1,1], 8)
    start = np.r_[0, np.flatnonzero(img[1:] != img[:-1]) + 1]
    cnt = np.diff(np.r_[start, len(img)])
    dis = [len(set(ro[s:s+c])) for s, c in zip(start, cnt)]
    print("beams per image", np.bincount(cnt), "distinct readouts", np.bincount(dis))
    print(cum[:20], ro[:20], img[:20])
