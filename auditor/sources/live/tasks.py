"""A bounded pool of one-request tasks, with progress by unit (service, API).

Every task makes at most one HTTP request and submits the tasks that depend on its answer, so
the pool's ``workers`` threads are the only bound on requests in flight and stay busy until the
estate is read. The caller's thread only waits, reports progress and receives Ctrl-C: an
interrupt cancels the queued tasks and propagates at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LiveProgress:
    """How far a live scan is: services and APIs completely read, and requests made."""

    services_done: int
    services_found: int
    apis_done: int
    apis_found: int
    requests: int


class Unit:
    """Something whose tasks finish together: an APIM service, or one API of it."""

    def __init__(self, kind: str, parent: Unit | None = None) -> None:
        self.kind = kind
        self.parent = parent
        self.pending = 0


class TaskPool:
    """Runs tasks on ``workers`` threads; tracks what is pending per unit."""

    def __init__(self, workers: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="auditor-live")
        self._cond = threading.Condition()
        self._pending = 0
        self._failure: BaseException | None = None
        self._cancelled = False
        self.found = {"service": 0, "api": 0}
        self.done = {"service": 0, "api": 0}

    def unit(self, kind: str, parent: Unit | None = None) -> Unit:
        """A new unit (counted as found), held open until :meth:`release`.

        NOTE: the hold keeps a unit from counting as done while its first tasks are still being
        submitted (the first one may finish before the second is queued).
        """
        unit = Unit(kind, parent)
        with self._cond:
            self.found[kind] += 1
            self._enter(unit)
        return unit

    def release(self, unit: Unit) -> None:
        """End the hold taken by :meth:`unit`."""
        with self._cond:
            self._leave(unit)

    def submit(self, unit: Unit | None, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` as part of ``unit``."""
        with self._cond:
            if self._cancelled:
                return
            self._enter(unit)
        try:
            self._executor.submit(self._run, unit, fn, args)
        except RuntimeError:  # shut down by cancel() meanwhile: the task is dropped
            with self._cond:
                self._leave(unit)

    def _enter(self, unit: Unit | None) -> None:
        self._pending += 1
        node = unit
        while node is not None:
            node.pending += 1
            node = node.parent

    def _leave(self, unit: Unit | None) -> None:
        self._pending -= 1
        node = unit
        while node is not None:
            node.pending -= 1
            if node.pending == 0:
                self.done[node.kind] += 1
            node = node.parent
        self._cond.notify_all()

    def _run(self, unit: Unit | None, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            if not self._cancelled:
                fn(*args)
        except BaseException as exc:  # a bug in a task stops the scan, loudly
            with self._cond:
                self._failure = self._failure or exc
                self._cancelled = True
        finally:
            with self._cond:
                self._leave(unit)

    def wait(self, tick: Callable[[], None] | None = None, interval: float = 0.2) -> None:
        """Wait until every task (and every task they submitted) is done.

        ``tick`` runs on the caller's thread between waits (progress). A failure inside a task,
        or KeyboardInterrupt here, cancels what is queued and propagates.
        """
        try:
            while True:
                with self._cond:
                    if self._failure is not None:
                        raise self._failure
                    if self._pending == 0:
                        return
                    self._cond.wait(interval)
                if tick is not None:
                    tick()
        except BaseException:
            self.cancel()
            raise

    def cancel(self) -> None:
        """Drop queued tasks; requests already in flight finish on their own."""
        with self._cond:
            self._cancelled = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Shut the threads down (after :meth:`wait`)."""
        self._executor.shutdown(wait=True)
