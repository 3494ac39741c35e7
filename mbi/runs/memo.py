"""A least-recently-used memo bounded in bytes, for results a server keeps in memory between requests.

Counting entries does not bound memory when one entry is a 60 MB table and another a 2 kB
summary, so :class:`ByteLRU` measures every value it keeps (:func:`deep_nbytes`) and drops the
least recently used entries when the total passes ``max_bytes``; each group of keys (one kind
of result) may also be capped in entries. :meth:`ByteLRU.put` returns what it dropped, so the
caller can say so. Memory-mapped arrays count as 0 bytes: their pages are the operating
system's shared, evictable file cache, not this process's own memory.

Dropping a result frees its memory only if the allocator gives it back: glibc's malloc raises
its memory-map threshold after large blocks are freed (up to 32 MB), so later arrays of a few MB
come from the heap, which fragments and is rarely returned. :func:`bound_allocator` fixes that
threshold (every block of at least 1 MiB gets its own map, unmapped when freed) and
:func:`release_freed_memory` returns the heap's free pages (``malloc_trim``); a server calls the
first once and the second after each request. Both do nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Hashable

import numpy as np


def _array_base(array: np.ndarray) -> Any:
    """The object that owns ``array``'s memory (the end of its ``.base`` chain)."""
    base = array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    return base


def deep_nbytes(value: Any) -> int:
    """Bytes of memory ``value`` holds: numpy buffers and torch storages (each counted once, memory maps as 0),
    plus ``sys.getsizeof`` of every container and object reached through containers, ``__dict__`` and
    ``__slots__``."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = _array_base(obj)
            if isinstance(base, (np.memmap, mmap.mmap)):
                continue
            if base is not obj:
                stack.append(base)
                continue
            total += obj.nbytes
            if obj.dtype.hasobject:
                stack.extend(obj.ravel().tolist())
            continue
        if isinstance(obj, (bytes, bytearray, memoryview, str, int, float, complex, bool, type(None))):
            total += sys.getsizeof(obj)
            continue
        storage = getattr(obj, "untyped_storage", None)
        if callable(storage) and type(obj).__module__.startswith("torch"):
            s = storage()
            if id(s) not in seen:
                seen.add(id(s))
                total += int(s.nbytes())
            continue
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif not isinstance(obj, type):
            if hasattr(obj, "__dict__"):
                stack.append(vars(obj))
            for slot in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, slot):
                    stack.append(getattr(obj, slot))
    return total


@dataclass(frozen=True)
class Dropped:
    """An entry :meth:`ByteLRU.put` removed (or refused, when ``refused``) to stay within its limits."""

    key: Hashable
    nbytes: int
    refused: bool = False


class ByteLRU:
    """A thread-safe LRU dict whose values together hold at most ``max_bytes``.

    Keys are ``(group, key)`` pairs given separately to :meth:`get` and :meth:`put`; a group may
    also be limited to ``entries`` values (the least recently used of the group goes first).
    A value larger than ``max_bytes`` on its own is not kept.
    """

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple[Hashable, Hashable], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.total_bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[tuple[Hashable, Hashable]]:
        """The (group, key) pairs kept, least recently used first."""
        with self._lock:
            return list(self._items)

    def get(self, group: Hashable, key: Hashable) -> Any:
        """The value kept under (``group``, ``key``), marked as just used; None when absent."""
        with self._lock:
            item = self._items.get((group, key))
            if item is None:
                return None
            self._items.move_to_end((group, key))
            return item[0]

    def put(self, group: Hashable, key: Hashable, value: Any, entries: int | None = None) -> list[Dropped]:
        """Keep ``value`` under (``group``, ``key``); returns the entries dropped to make room (or this one, refused)."""
        size = deep_nbytes(value)
        dropped: list[Dropped] = []
        with self._lock:
            old = self._items.pop((group, key), None)
            if old is not None:
                self.total_bytes -= old[1]
            if size > self.max_bytes:
                return [Dropped(key, size, refused=True)]
            self._items[(group, key)] = (value, size)
            self.total_bytes += size
            if entries is not None:
                mine = [k for k in self._items if k[0] == group]
                for k in mine[: max(0, len(mine) - entries)]:
                    dropped.append(self._pop(k))
            while self.total_bytes > self.max_bytes:
                oldest = next(iter(self._items))
                dropped.append(self._pop(oldest))
        return dropped

    def _pop(self, full_key: tuple[Hashable, Hashable]) -> Dropped:
        _, size = self._items.pop(full_key)
        self.total_bytes -= size
        return Dropped(full_key[1], size)


MMAP_THRESHOLD = 1 << 20
"""Bytes from which :func:`bound_allocator` has every block mapped on its own (returned to the OS when freed)."""

_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def bound_allocator(threshold: int = MMAP_THRESHOLD) -> bool:
    """Serve every allocation of at least ``threshold`` bytes from its own memory map from now on, with no
    dynamic raise of that threshold, so large arrays (tables, indexes, traces, torch buffers) go back to the
    operating system as soon as they are freed. True when set (glibc), False where not available."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)) == 1)


def release_freed_memory() -> bool:
    """Give the heap's free pages back to the operating system (glibc ``malloc_trim(0)``); True when some were."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


__all__ = ["ByteLRU", "Dropped", "MMAP_THRESHOLD", "bound_allocator", "deep_nbytes", "release_freed_memory"]
