"""How much fresh work one visitor of a shared server may start: a sliding window per visitor plus a
cap on how many such jobs run at once on the whole server.

A lookup pass over hundreds of images costs tens of seconds of CPU, and every new weight pair or
search setting in a link starts one. :class:`WorkQuota` admits a job for a visitor (any stable key:
the dashboard uses its session id) when that visitor has started fewer than ``per_visitor`` jobs in
the last ``window_s`` seconds, has none running, and fewer than ``concurrent`` jobs run server-wide;
otherwise :meth:`WorkQuota.claim` raises :class:`QuotaError` with when to try again. Results that are
already cached cost nothing and are never counted. Limits come from ``MBI_MAX_FRESH_LOOKUPS`` (per
visitor and window; hosted default 6, else unlimited) and ``MBI_MAX_CONCURRENT_LOOKUPS`` (default 2
hosted, else unlimited), see :func:`quota_from_env`. No streamlit here.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from typing import Callable, Iterator

from mbi.runs.jobs import hosted_from_env
from mbi.validate import env_int

WINDOW_S = 600.0
"""Length of the sliding window (10 minutes)."""


class QuotaError(RuntimeError):
    """This visitor (or the server) is at its limit of fresh work; the message says when to retry."""


class WorkQuota:
    """Thread-safe admission of expensive jobs per visitor (one process, shared by all sessions)."""

    def __init__(self, per_visitor: int | None, concurrent: int | None, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_visitor = per_visitor
        self.concurrent = concurrent
        self.window_s = window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._started: dict[str, collections.deque[float]] = {}
        self._running: collections.Counter[str] = collections.Counter()

    @contextlib.contextmanager
    def claim(self, visitor: str, what: str = "lookup pass") -> Iterator[None]:
        """Run one job for ``visitor`` inside this block, or raise :class:`QuotaError` before it starts."""
        self.acquire(visitor, what)
        try:
            yield
        finally:
            self.release(visitor)

    def acquire(self, visitor: str, what: str = "lookup pass") -> None:
        """Count one job of ``visitor`` as started and running, or raise :class:`QuotaError`; pair with
        :meth:`release`."""
        with self._lock:
            now = self.clock()
            starts = self._started.setdefault(visitor, collections.deque())
            while starts and now - starts[0] > self.window_s:
                starts.popleft()
            if self._running[visitor]:
                raise QuotaError(f"your previous {what} is still running; wait for it to finish")
            if self.per_visitor is not None and len(starts) >= self.per_visitor:
                wait = self.window_s - (now - starts[0])
                raise QuotaError(f"this server lets one visitor start {self.per_visitor} new {what}es every "
                                 f"{self.window_s / 60:.0f} minutes; try again in {wait / 60:.0f} min, or use "
                                 "settings that were already computed (the model's own weights, 100-300 images)")
            if self.concurrent is not None and sum(self._running.values()) >= self.concurrent:
                raise QuotaError(f"the server is busy with {self.concurrent} other {what}es; try again in a minute")
            starts.append(now)
            self._running[visitor] += 1
            if len(self._started) > 10_000:  # forget visitors whose window is empty
                for key in [k for k, v in self._started.items() if not v and not self._running[k]]:
                    del self._started[key]

    def release(self, visitor: str) -> None:
        """The job :meth:`acquire` admitted for ``visitor`` has ended."""
        with self._lock:
            self._running[visitor] -= 1
            if self._running[visitor] <= 0:
                del self._running[visitor]


def quota_from_env(env: dict[str, str] | None = None) -> WorkQuota:
    """The server's quota: ``MBI_HOSTED=1`` gives 6 fresh lookups per visitor per 10 minutes and 2 at once;
    ``MBI_MAX_FRESH_LOOKUPS`` / ``MBI_MAX_CONCURRENT_LOOKUPS`` override (unset and not hosted: no limit)."""
    env = dict(os.environ if env is None else env)
    hosted = hosted_from_env(env)
    return WorkQuota(env_int(env, "MBI_MAX_FRESH_LOOKUPS", 6 if hosted else None),
                     env_int(env, "MBI_MAX_CONCURRENT_LOOKUPS", 2 if hosted else None))


__all__ = ["QuotaError", "WINDOW_S", "WorkQuota", "quota_from_env"]
