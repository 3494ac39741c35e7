"""Where the lookups fail: per glimpse, how often the matched row comes from a digit of the right class (validation)."""
import numpy as np, sys
from mbi.model.checkpoint import Checkpoint
from mbi.memory.lut import cached_table, load_table
from mbi.data import load_mnist
from mbi.runs.tracecache import cached_trace
from mbi.model.predict import predict
ck = Checkpoint.of("default"); m = load_mnist()
table = cached_table(ck) if sys.argv[1] == "-" else load_table(sys.argv[1], ck.hash)
N = int(sys.argv[2]); x, y = m.val_x[:N], m.val_y[:N]
w = ck.lookup.chosen_weights
tr = cached_trace(ck.model, table, x, f"val:{N}", w)
ram = predict(ck.model, x)
src = m.train_y[table.source[tr.rows]]  # [B, T]
wrong = tr.prediction != y
print("lookup acc", 1 - wrong.mean(), "ram acc", (ram == y).mean(), "errors", wrong.sum(), "ram also wrong", (wrong & (ram != y)).sum())
for t in range(src.shape[1]):
    print(f"step {t+1}: source label right overall {np.mean(src[:, t] == y):.4f}; among lookup errors {np.mean(src[wrong, t] == y[wrong]):.3f}; readout right {np.mean(tr.readouts[:, t] == y):.4f}")
# same source digit across steps?
same = (table.source[tr.rows] == table.source[tr.rows][:, :1]).all(1)
print("follows one training digit all steps", same.mean(), "acc when so", 1 - wrong[same].mean(), "else", 1 - wrong[~same].mean())
# exact match at step 1?
print("step-1 distance 0 share", np.mean(tr.distance[:, 0] == 0))
# the error classes
print("final source label == prediction among errors", np.mean(src[wrong, -1] == tr.prediction[wrong]))
