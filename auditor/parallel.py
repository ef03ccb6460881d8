"""Spreading per-API work over forked processes, when that is safe and worth it.

NOTE: each API is audited independently, so two cores halve the check time of large estates.
Workers are forked (the estate, with its parsed lxml trees, is inherited, not pickled) and send
back plain findings. Forking is only done from a single-threaded process on a platform with
fork; anywhere else, and for small estates, the work runs in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

#: Below this many APIs a fork costs more than it saves.
MIN_PARALLEL = 200

_job: Callable[[int], Any] | None = None


def _run(index: int) -> Any:
    assert _job is not None
    return _job(index)


def default_workers() -> int:
    """Workers for a large scan: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def can_fork() -> bool:
    """Forking is safe here: the platform has it and no other thread could hold a lock."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def map_apis(job: Callable[[int], T], count: int, workers: int) -> list[T]:
    """``[job(i) for i in range(count)]``, in order, possibly in ``workers`` processes."""
    if workers <= 1 or count < MIN_PARALLEL or not can_fork():
        return [job(i) for i in range(count)]
    # Interleaved slices balance services whose APIs differ in size.
    slices = [list(range(w, count, workers)) for w in range(workers)]
    parts, _ = fork_map(lambda w: [job(i) for i in slices[w]], workers)
    out: list[Any] = [None] * count
    for indices, results in zip(slices, parts, strict=True):
        for i, r in zip(indices, results, strict=True):
            out[i] = r
    return out


def fork_map(
    job: Callable[[int], T], workers: int, meanwhile: Callable[[], U] | None = None
) -> tuple[list[T], U | None]:
    """``[job(w) for w in range(workers)]``, each call in its own forked process, and the result
    of ``meanwhile()``, run here while the workers run. The caller checks :func:`can_fork`.
    """
    global _job
    # NOTE: a forked worker flushes its copy of the standard streams when it ends; anything still
    # buffered here would be printed twice.
    sys.stdout.flush()
    sys.stderr.flush()
    _job = job
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pending = pool.map_async(_run, range(workers), chunksize=1)
            here = meanwhile() if meanwhile is not None else None
            return pending.get(), here
    finally:
        _job = None
