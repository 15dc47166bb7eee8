"""Jobs run in this process or in a pool of single-threaded worker processes, for dataset tools."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterable, Iterator

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _single_threaded_children():
    """Workers inherit one BLAS/OpenMP thread each: threaded BLAS in every worker oversubscribes the
    cores (measured: Breakout collection with 2 workers ran 6x slower)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update(dict.fromkeys(_THREAD_VARS, "1"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _start_child(initializer: Callable, *init_args) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends the pool
    initializer(*init_args)


@contextlib.contextmanager
def worker_results(function: Callable, jobs: Iterable, workers: int, initializer: Callable,
                   init_args: tuple) -> Iterator[Iterator]:
    """`function` over `jobs`: in this process after `initializer(*init_args)` when workers == 1, else in
    that many spawned single-threaded processes, each initialized so, results in completion order.
    Leaving the block (done, or on an exception) ends the pool."""
    if workers == 1:
        initializer(*init_args)
        yield map(function, jobs)
        return
    with _single_threaded_children():
        pool = mp.get_context("spawn").Pool(workers, _start_child, (initializer, *init_args))
    try:
        yield pool.imap_unordered(function, jobs)
    finally:
        pool.terminate()
        pool.join()
