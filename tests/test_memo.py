"""The byte-bounded LRU memo (mbi.runs.memo) against a plain reference, and its byte counts."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mbi.runs import memo
from mbi.runs.memo import ByteLRU, deep_nbytes

ROOT = Path(__file__).resolve().parent.parent


def test_deep_nbytes_counts_buffers_once_and_maps_as_zero(tmp_path):
    a = np.zeros(1_000_000, dtype=np.uint8)
    assert 1_000_000 <= deep_nbytes(a) < 1_001_000
    assert deep_nbytes([a, a, a[10:]]) < 1_002_000  # one buffer, however many views

    @dataclass
    class Holder:
        keys: np.ndarray
        parts: list

    held = deep_nbytes(Holder(a, [np.ones((100, 100)), {"x": np.ones(10, dtype=np.int32)}]))
    assert held >= 1_000_000 + 80_000 + 40
    np.save(tmp_path / "m.npy", a)
    mapped = np.load(tmp_path / "m.npy", mmap_mode="r")
    assert deep_nbytes(mapped) < 1000 and deep_nbytes(mapped[5:]) < 1000


def test_deep_nbytes_counts_torch_storage():
    torch = pytest.importorskip("torch")
    t = torch.zeros(1000, 100)
    assert deep_nbytes({"w": t, "v": t[:10]}) >= 400_000
    assert deep_nbytes({"w": t, "v": t[:10]}) < 401_000


class Reference:
    """A plain LRU bounded in bytes: a list ordered from oldest to newest use."""

    def __init__(self, max_bytes):
        self.max_bytes, self.items = max_bytes, []  # [(group, key, size)]

    def get(self, group, key):
        for i, item in enumerate(self.items):
            if item[:2] == (group, key):
                self.items.append(self.items.pop(i))
                return item[2]
        return None

    def put(self, group, key, size, entries):
        self.items = [it for it in self.items if it[:2] != (group, key)]
        if size > self.max_bytes:
            return
        self.items.append((group, key, size))
        while entries is not None and sum(1 for it in self.items if it[0] == group) > entries:
            self.items.remove(next(it for it in self.items if it[0] == group))
        while sum(it[2] for it in self.items) > self.max_bytes:
            self.items.pop(0)


ops = st.lists(st.tuples(st.sampled_from(["get", "put"]), st.sampled_from("ab"), st.integers(0, 5),
                         st.integers(0, 30)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(ops=ops, budget=st.integers(0, 600), entries=st.one_of(st.none(), st.integers(1, 3)))
def test_byte_lru_matches_a_plain_reference(ops, budget, entries):
    lru, ref = ByteLRU(budget), Reference(budget)
    for op, group, key, size in ops:
        if op == "put":
            value = np.zeros(size, dtype=np.uint8)
            before = set(lru.keys())
            dropped = lru.put(group, key, value, entries=entries)
            ref.put(group, key, deep_nbytes(value), entries)
            assert any(d.refused for d in dropped) == (deep_nbytes(value) > budget)
            gone = {k for k in before if k not in set(lru.keys())} - {(group, key)}
            assert sorted(d.key for d in dropped if not d.refused) == sorted(k for _, k in gone)
        else:
            assert (lru.get(group, key) is None) == (ref.get(group, key) is None)
        assert lru.keys() == [(g, k) for g, k, _ in ref.items]
        assert lru.total_bytes == sum(s for _, _, s in ref.items) <= budget


def test_put_reports_what_it_dropped():
    lru = ByteLRU(3_000_000)
    for k in range(3):
        assert lru.put("trace", k, np.zeros(1_000_000, dtype=np.uint8)) == []
    dropped = lru.put("trace", 3, np.zeros(1_000_000, dtype=np.uint8))
    assert [d.key for d in dropped] == [0] and dropped[0].nbytes >= 1_000_000
    assert lru.get("trace", 0) is None and lru.get("trace", 3) is not None
    refused = lru.put("trace", 9, np.zeros(4_000_000, dtype=np.uint8))
    assert refused[0].refused and lru.get("trace", 9) is None
    small = ByteLRU(10_000)
    assert small.put("index", 0, 1, entries=1) == [] and [d.key for d in small.put("index", 1, 2, entries=1)] == [0]


ALLOCATOR = """
import sys
import numpy as np
from pathlib import Path
from mbi.runs import memo

def anon_mb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("RssAnon:"))
    return int(line.split()[1]) / 1024

if sys.argv[1] == "bound":
    assert memo.bound_allocator()
big = [np.ones(20_000_000 // 8)]  # a 20 MB block freed first: glibc then raises its map threshold to 20 MB
del big
base = anon_mb()
kept, freed = [], []
for _ in range(100):  # 2 MB arrays with small long-lived ones between them, as a server's results are
    freed.append(np.ones(2_000_000 // 8))
    kept.append(np.ones(100) + 1)
held = anon_mb() - base
del freed[::2]  # holes in the heap, which glibc keeps by itself
if sys.argv[1] == "release":
    assert memo.release_freed_memory()
print(round(held), round(anon_mb() - base))
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file() or memo._glibc() is None, reason="needs glibc on Linux")
@pytest.mark.parametrize("mode", ["bound", "release"])
def test_freed_arrays_go_back_to_the_system(mode):
    """In a fresh process: with bound_allocator before, or release_freed_memory after, freeing every other
    of 100 arrays of 2 MB gives their 100 MB back to the operating system."""
    out = subprocess.run([sys.executable, "-c", ALLOCATOR, mode], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    held, left = (int(v) for v in out.stdout.split())
    assert held >= 190 and left <= held / 2 + 10
