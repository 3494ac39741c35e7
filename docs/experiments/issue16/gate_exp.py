"""Gate variants on validation, out of fold: existing features (k=8) vs extra ones (k=16, counts, class margins)."""
import sys, json
import numpy as np
from mbi.model.checkpoint import Checkpoint
from mbi.data import load_mnist
from mbi.runs.tracecache import cached_trace
from mbi.runs.gatecache import cached_neighbours
from mbi.inference.gate import Neighbours, gate_features, feature_names, out_of_fold_scores, error_auc, gate_curve, accuracy_at_share
from mbi.model.predict import predict

ck = Checkpoint.of("default"); m = load_mnist(); table = ck.table()
N = int(sys.argv[1]); x, y = m.val_x[:N], m.val_y[:N]
w = ck.lookup.chosen_weights
tr = cached_trace(ck.model, table, x, f"val:{N}", w)
nb16 = cached_neighbours(table, w, tr, f"val:{N}", 16)
nb8 = Neighbours(nb16.rows[:, :, :8], nb16.distance[:, :, :8])
ram = predict(ck.model, x)
wrong = tr.prediction != y
base = gate_features(tr, nb8, table, m.train_y)
names = feature_names(table.num_glimpses)
pred = tr.prediction.astype(np.int64)
def extra(nb, kind):
    src = m.train_y[table.source[nb.rows]]  # B,T,k
    agree = src == pred[:, None, None]
    d = nb.distance
    cols = []
    if "agree16" in kind:
        cols.append(agree.mean(2))
    if "wagree" in kind:
        wt = np.exp(-(d - d[:, :, :1]))
        cols.append((agree * wt).sum(2) / wt.sum(2))
    if "cmargin" in kind:
        dis = ~agree
        first = np.where(dis.any(2), np.take_along_axis(d, dis.argmax(2)[:, :, None], 2)[:, :, 0], d[:, :, -1] + 1.0)
        cols.append(first - d[:, :, 0])
    if "count" in kind:
        cols.append(np.log1p(table.count[tr.rows]))
    if "readout16" in kind:
        cols.append((table.readout[nb.rows[:, -1]] == pred[:, None]).mean(1)[:, None])
    if "gap" in kind:
        cols.append(d[:, :, -1] - d[:, :, 0])
    return np.concatenate(cols, 1) if cols else np.zeros((len(pred), 0))

def report(name, F):
    nm = [f"f{i}" for i in range(F.shape[1])]
    out = {"variant": name}
    for c in (1.0,):
        s = out_of_fold_scores(F, wrong, nm, 8, c=c)
        curve = gate_curve(s, tr.prediction, ram, y)
        out.update(auc=round(error_auc(s, wrong), 4), at80=round(accuracy_at_share(curve, 0.8).accuracy, 4),
                   at90=round(accuracy_at_share(curve, 0.9).accuracy, 4))
    print(json.dumps(out), flush=True)

d = tr.max_distance.astype(float)
curve = gate_curve(d, tr.prediction, ram, y)
print(json.dumps({"variant": "distance gate", "auc": round(error_auc(d, wrong), 4), "at80": accuracy_at_share(curve, 0.8).accuracy, "at90": accuracy_at_share(curve, 0.9).accuracy, "lookup": 1 - wrong.mean(), "ram": float((ram == y).mean())}))
report("shipped features (k=8)", base)
for kind in ["agree16", "wagree", "cmargin", "count", "readout16", "gap", "agree16+cmargin+count", "agree16+wagree+cmargin+count+readout16+gap"]:
    nb = nb16 if ("16" in kind or kind.startswith("agree16")) else nb8
    report("+" + kind, np.concatenate([base, extra(nb16 if "16" in kind else nb8, kind)], 1))

if "--k16" in sys.argv:
    def k16set(nb, parts):
        src = m.train_y[table.source[nb.rows]]; agree = src == pred[:, None, None]; d = nb.distance
        cols = {"distance": tr.distance.astype(float), "margin": d[:, :, 1] - d[:, :, 0], "agree": agree.mean(2)}
        dis = ~agree
        cols["cmargin"] = np.where(dis.any(2), np.take_along_axis(d, dis.argmax(2)[:, :, None], 2)[:, :, 0], d[:, :, -1] + float(sys.argv[-1])) - d[:, :, 0]
        cols["count"] = np.log1p(table.count[tr.rows])
        cols["readout"] = (table.readout[nb.rows[:, -1]] == pred[:, None]).mean(1)[:, None]
        cols["gap"] = d[:, :, -1] - d[:, :, 0]
        return np.concatenate([cols[p] for p in parts], 1)
    for k in (8, 16):
        nb = Neighbours(nb16.rows[:, :, :k], nb16.distance[:, :, :k])
        for parts in (["distance", "margin", "agree", "readout"], ["distance", "margin", "agree", "cmargin", "count", "readout"],
                      ["distance", "margin", "agree", "cmargin", "readout"], ["distance", "margin", "agree", "cmargin", "count", "readout", "gap"]):
            report(f"k={k} " + "+".join(parts), k16set(nb, parts))
