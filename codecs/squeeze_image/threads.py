"""The thread budget of FRAPPE-Image's block coding (``-T N``, the API's ``threads``).

Two kinds of threads can work inside one image: the encoder's small thread pool
(``run_parallel``: projection rows and context-model channels, nogil kernels) and
numba's ``parallel=True`` decoder kernels (kernels.py).  ``limit(n)`` caps both
for the work started from the calling thread: ``run_parallel`` then uses the
caller plus at most ``n - 1`` pool workers, and the parallel kernels called from
this thread run on ``n`` numba threads (``numba.set_num_threads`` is a per-thread
setting; it is restored on exit).  ``limit(1)`` therefore means one thread in
total.  The codec enters ``limit(codec.threads)`` around every block it codes
(``frappe_cli.codec.Codec.threads``: the core's ``-T`` count).

Outside any ``limit`` (direct ``Model`` use: benchmarks, training), ``run_parallel``
uses ``DEFAULT_THREADS`` and numba its own default, as before.

Every task writes its own output, so the bytes never depend on the thread count.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

#: the pool's size when no ``limit`` is active (two = this project's machines)
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))
#: never more threads than cores, whatever ``-T`` says (``-T N`` is an upper bound)
MAX_THREADS = max(1, os.cpu_count() or 1)
POOL_PREFIX = "frappe-enc"

_local = threading.local()
_pool = None
_pool_lock = threading.Lock()


def current() -> int:
    """The thread budget of codec work started from the calling thread."""
    return getattr(_local, "n", DEFAULT_THREADS)


@contextmanager
def limit(n: int) -> Iterator[int]:
    """At most ``n`` threads (caller included) for the codec work started from this
    thread inside the ``with``: the encoder pool and numba's parallel kernels."""
    import numba

    n = max(1, min(int(n), MAX_THREADS))
    prev = getattr(_local, "n", None)
    old = numba.get_num_threads()
    _local.n = n
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield n
    finally:
        numba.set_num_threads(old)
        if prev is None:
            del _local.n
        else:
            _local.n = prev


def _get_pool():
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        with _pool_lock:
            if _pool is None:
                # threads start only when tasks need them (at most budget - 1 per call)
                _pool = ThreadPoolExecutor(max(1, MAX_THREADS - 1),
                                           thread_name_prefix=POOL_PREFIX)
    return _pool


def _run_chunk(fn, chunk):
    return [fn(*t) for t in chunk]


def run_parallel(fn, tasks: list[tuple]) -> list:
    """fn(*task) for every task, over the calling thread and at most ``current() - 1``
    workers of a shared pool (tasks dealt out in turn); results in task order.  With
    a budget of one thread every task runs on the calling thread."""
    workers = min(current(), len(tasks))
    if workers <= 1:
        return [fn(*t) for t in tasks]
    pool = _get_pool()
    chunks = [tasks[w::workers] for w in range(workers)]
    futs = [pool.submit(_run_chunk, fn, c) for c in chunks[1:]]
    res = [_run_chunk(fn, chunks[0])] + [f.result() for f in futs]
    out: list = [None] * len(tasks)
    for w, r in enumerate(res):
        out[w::workers] = r
    return out
