"""Sharing a batch of queries among threads: the compiled kernels release the GIL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import numpy as np


def run_blocks(kernel: Callable[[int, int], None], n_queries: int, n_threads: int) -> None:
    """Call ``kernel(start, stop)`` on ``n_threads`` contiguous blocks of the queries.

    The compiled kernels release the GIL, so the blocks run in parallel in a thread pool of
    exactly ``n_threads`` threads (one thread: called inline).
    """
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    n_blocks = max(1, min(n_threads, n_queries))
    bounds = np.linspace(0, n_queries, n_blocks + 1).astype(np.int64)
    if n_blocks == 1:
        kernel(0, n_queries)
        return
    with ThreadPoolExecutor(n_blocks) as pool:
        list(pool.map(lambda i: kernel(int(bounds[i]), int(bounds[i + 1])), range(n_blocks)))
