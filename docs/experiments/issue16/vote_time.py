"""CPU-seconds of lookup-only answers with and without the recorded learned vote (issue 16, RESULTS.md item 6).

Plain: the exact lookups of every glimpse (:func:`mbi.inference.lookup.lookup_infer`); the vote adds the 16 exact
nearest rows of every glimpse's query (a second search, :func:`mbi.inference.gate.step_neighbours`, on the same
index), the features and one matrix product (:meth:`mbi.inference.vote.LearnedVote.answers`). Nothing is read from
a cache; the index is built once and the compiled kernels warmed on 50 other digits first.

    PYTHONPATH=. MBI_HOME=... nice -n 10 python docs/experiments/issue16/vote_time.py [IMAGES]
"""
import json
import os
import sys
import time

import numpy as np

from mbi.inference.gate import step_neighbours
from mbi.inference.lookup import StepIndex, lookup_infer
from mbi.inference.vote import read_vote
from mbi.model.checkpoint import Checkpoint

n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
ck = Checkpoint.of("default")
data = ck.data()
table, w = ck.table(), ck.lookup.chosen_weights
vote = read_vote(ck.folder)
vote.check_table(table, w)
x, y = data.val_x[:n], data.val_y[:n]
index = StepIndex(table, w)
warm = lookup_infer(ck.model, table, data.val_x[-50:], index=index)
vote.answers(warm, step_neighbours(table, w, warm.queries, vote.k, index=index), table, data.train_y)

t0 = time.process_time()
trace = lookup_infer(ck.model, table, x, index=index)
t1 = time.process_time()
nb = step_neighbours(table, w, trace.queries, vote.k, index=index)
t2 = time.process_time()
voted = vote.answers(trace, nb, table, data.train_y)
t3 = time.process_time()
print(json.dumps({"images": n, "threads": index.n_threads, "load_average": os.getloadavg(),
                  "plain_accuracy": float(np.mean(trace.prediction == y)), "vote_accuracy": float(np.mean(voted == y)),
                  "cpu_s_lookups": round(t1 - t0, 2), "cpu_s_second_search_k16": round(t2 - t1, 2),
                  "cpu_s_features_and_vote": round(t3 - t2, 3), "cpu_s_with_vote": round(t3 - t0, 2)}))
