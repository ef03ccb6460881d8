"""Spreading per-API work over forked processes, when that is safe and worth it.

NOTE: each API is audited independently, so two cores halve the check time of large estates.
Workers are forked (the estate, with its parsed lxml trees, is inherited, not pickled) and send
back plain findings. Forking is only done from a single-threaded process on a platform with
fork; anywhere else, and for small estates, the work runs in this process.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
U = TypeVar("U")

#: Below this many APIs a fork costs more than it saves.
MIN_PARALLEL = 200


def default_workers() -> int:
    """Workers for a large scan: the cores this process may use, at most 4."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def can_fork() -> bool:
    """Forking is safe here: the platform has it and no other thread could hold a lock."""
    return hasattr(os, "fork") and threading.active_count() == 1


def map_apis(job: Callable[[int], T], count: int, workers: int) -> list[T]:
    """``[job(i) for i in range(count)]``, in order, possibly in ``workers`` processes."""
    if workers <= 1 or count < MIN_PARALLEL or not can_fork():
        return [job(i) for i in range(count)]
    # Interleaved slices balance services whose APIs differ in size.
    slices = [list(range(w, count, workers)) for w in range(workers)]
    # This process takes the first slice itself while the others run.
    rest, first = fork_map(
        lambda w: [job(i) for i in slices[w + 1]],
        workers - 1,
        meanwhile=lambda: [job(i) for i in slices[0]],
    )
    parts = [first or [], *rest]
    out: list[Any] = [None] * count
    for indices, results in zip(slices, parts, strict=True):
        for i, r in zip(indices, results, strict=True):
            out[i] = r
    return out


class WorkerError(RuntimeError):
    """A forked worker failed; the message carries its traceback."""


def fork_map(
    job: Callable[[int], T], workers: int, meanwhile: Callable[[], U] | None = None
) -> tuple[list[T], U | None]:
    """``[job(w) for w in range(workers)]``, each call in its own forked process, and the result
    of ``meanwhile()``, run here while the workers run. The caller checks :func:`can_fork`.

    NOTE: a plain fork and a pipe per worker, not multiprocessing.Pool: the pool's threads and
    its shutdown cost more than a large scan's result transfer, and a worker leaves with
    ``os._exit`` (nothing of its heap is torn down, no buffered output is flushed twice).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[tuple[int, int]] = []
    try:
        for index in range(workers):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child (coverage does not follow)
                os.close(read_end)
                _child(job, index, write_end)
            os.close(write_end)
            children.append((pid, read_end))
        here = meanwhile() if meanwhile is not None else None
        results = []
        while children:
            pid, fd = children.pop(0)
            results.append(_collect(pid, fd))
        return results, here
    finally:
        for pid, fd in children:  # an error here: stop and reap the workers left
            try:
                os.close(fd)
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except OSError:
                pass


def _child(job: Callable[[int], Any], index: int, fd: int) -> None:  # pragma: no cover
    code = 0
    try:
        try:
            payload = pickle.dumps((True, job(index)), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
            payload = pickle.dumps((False, traceback.format_exc()))
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
    except BaseException:  # noqa: BLE001 - the parent sees a truncated result
        code = 1
    finally:
        os._exit(code)


def _collect(pid: int, fd: int) -> Any:
    with os.fdopen(fd, "rb") as pipe:
        data = pipe.read()
    # NOTE: the result is read before the worker is reaped: the kernel takes about 10 ms to tear
    # down a large worker, which need not come first.
    try:
        ok, value = pickle.loads(data)
    except Exception as exc:  # noqa: BLE001 - killed or crashed: no complete result
        ok, value = None, exc
    _, status = os.waitpid(pid, 0)
    if ok is None:
        raise WorkerError(f"worker {pid} ended without a result (status {status})") from value
    if not ok:
        raise WorkerError(f"worker {pid} failed:\n{value}")
    return value
