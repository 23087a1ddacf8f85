"""InferencePool: the bounded thread pool that runs every blocking model call off the event loop.

Jobs wait in a priority queue, so a stream's final result never queues behind interim decodes
that only refresh text the client already has: within a priority, first come, first served.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, ParamSpec, TypeVar

from voxserve.server import metrics
from voxserve.server.stop import StopSignal, running_under

P = ParamSpec("P")
T = TypeVar("T")


class Priority(enum.IntEnum):
    """Queue order of a job; lower runs first."""

    REQUEST = 0  # a result a client waits for: Recognize, Synthesize, a stream's final
    INTERIM = 1  # an interim decode: skipped or superseded when it comes late


class InferencePool:
    """A fixed number of worker threads shared by all RPCs; ONNX Runtime releases the GIL."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self._queue: list[tuple[int, int, Future[Any], Callable[[], Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._running = 0
        self._threads = [
            threading.Thread(target=self._work, name=f"inference_{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on a worker, queued at Priority.REQUEST."""
        return await self.run_at(Priority.REQUEST, fn, *args, **kwargs)

    async def run_at(self, priority: Priority, fn: Callable[P, T], *args: P.args,
                     **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` on a worker once no job of a lower `priority` value waits.

        Cancelling the awaiting task drops a job that has not started; a started one is told
        to stop (its model run in progress is aborted, see runtime.run), and the awaiting task
        waits for it to end before it ends cancelled: admission and the pool count the job
        until it has stopped.
        """
        return await self._submit(priority, lambda stop: fn(*args, **kwargs))

    async def run_stoppable(self, fn: Callable[[StopSignal], T],
                            priority: Priority = Priority.REQUEST) -> T:
        """`fn(stop)` on a worker; cancelling the awaiting task sets `stop`, and `fn` checks it
        between its steps (check_stop) and ends early. The task ends once `fn` has."""
        return await self._submit(priority, fn)

    async def _submit(self, priority: Priority, call: Callable[[StopSignal], T]) -> T:
        submitted_s = time.perf_counter()
        stop = StopSignal()

        def job() -> T:
            metrics.observe_queue_wait(time.perf_counter() - submitted_s)
            with running_under(stop):
                return call(stop)

        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the inference pool is shut down")
            heapq.heappush(self._queue, (int(priority), next(self._order), future, job))
            self._changed()
            self._ready.notify()
        waiting = asyncio.wrap_future(future)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if future.cancel():  # still queued: dropped, never run
                metrics.count_stopped_job("queued")
                raise
            metrics.count_stopped_job("running")
            stop.set()
            await _until_done(waiting)
            raise

    def queued(self) -> int:
        """Jobs waiting for a worker (started ones not counted)."""
        with self._ready:
            return len(self._queue)

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Cancel the jobs still queued and let the workers exit once their current job ends.

        With `wait_s`, wait that long for running jobs: the process must not exit while a
        (daemon) worker is inside ONNX Runtime, which aborts it.
        """
        with self._ready:
            self._closed = True
            pending, self._queue = self._queue, []
            self._ready.notify_all()
        for _, _, future, _ in pending:
            future.cancel()
        for thread in self._threads if wait_s else ():
            thread.join(wait_s)

    def _work(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._queue) or self._closed)
                if not self._queue:
                    return
                _, _, future, job = heapq.heappop(self._queue)
                if not future.set_running_or_notify_cancel():
                    self._changed()
                    continue  # its caller gave up while it waited
                self._running += 1
                self._changed()
            try:
                result = job()
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
                self._job_ended()
                future.set_exception(exc)
            else:
                self._job_ended()
                future.set_result(result)

    def _job_ended(self) -> None:
        with self._ready:
            self._running -= 1
            self._changed()

    def _changed(self) -> None:
        """Publish the running and queued counts (called with `_ready` held)."""
        metrics.pool_changed(self._running, len(self._queue))

    def running(self) -> int:
        """Jobs on a worker now."""
        with self._ready:
            return self._running


async def _until_done(waiting: asyncio.Future[Any]) -> None:
    """Wait for a started job to end, whatever else cancels the waiting task meanwhile."""
    while not waiting.done():
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            continue
        except Exception:  # noqa: BLE001 - the caller is gone: its job's failure goes nowhere
            return
    discard_outcome(waiting)


def discard_outcome(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a done job nobody awaits any more, so that its failure is not
    reported as never retrieved (usable as a done callback)."""
    if not future.cancelled():
        future.exception()
