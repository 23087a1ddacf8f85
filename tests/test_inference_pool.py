"""InferencePool: jobs run on worker threads in priority order; cancelled jobs never start."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from voxserve.server.inference import InferencePool, Priority


async def _blocked(pool: InferencePool, gate: threading.Event) -> asyncio.Future[None]:
    """Occupy the pool's only worker until `gate` is set; returns once the job has started."""
    started = threading.Event()

    def hold() -> None:
        started.set()
        gate.wait(10.0)

    job = asyncio.ensure_future(pool.run(hold))
    assert await asyncio.to_thread(started.wait, 10.0)
    return job


async def test_requests_run_before_interims_then_in_arrival_order() -> None:
    pool = InferencePool(1)
    gate = threading.Event()
    try:
        holder = await _blocked(pool, gate)
        order: list[str] = []
        jobs = [
            asyncio.ensure_future(pool.run_at(priority, order.append, name))
            for priority, name in [
                (Priority.INTERIM, "interim a"), (Priority.REQUEST, "final a"),
                (Priority.INTERIM, "interim b"), (Priority.REQUEST, "final b"),
            ]
        ]
        await asyncio.sleep(0)  # let every job reach the queue while the worker is held
        assert pool.queued() == 4
        gate.set()
        await asyncio.gather(holder, *jobs)
        assert order == ["final a", "final b", "interim a", "interim b"]
    finally:
        gate.set()
        pool.shutdown()


async def test_results_and_errors_reach_the_caller() -> None:
    pool = InferencePool(2)
    try:
        assert await pool.run(sum, [1, 2, 3]) == 6
        assert await pool.run_at(Priority.INTERIM, divmod, 7, 2) == (3, 1)
        assert await pool.run(int, "12", base=8) == 10
        with pytest.raises(ZeroDivisionError):
            await pool.run(divmod, 1, 0)
    finally:
        pool.shutdown()


async def test_a_cancelled_job_that_has_not_started_never_runs() -> None:
    pool = InferencePool(1)
    gate = threading.Event()
    ran: list[str] = []
    try:
        holder = await _blocked(pool, gate)
        dropped = asyncio.ensure_future(pool.run(ran.append, "dropped"))
        await asyncio.sleep(0)
        dropped.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dropped
        kept = asyncio.ensure_future(pool.run(ran.append, "kept"))
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(holder, kept)
        assert dropped.cancelled()
        assert ran == ["kept"]
        assert pool.queued() == 0
    finally:
        gate.set()
        pool.shutdown()


async def test_jobs_run_on_the_pools_threads_at_most_workers_at_once() -> None:
    pool = InferencePool(2)
    lock = threading.Lock()
    running, most = 0, 0
    names: set[str] = set()

    def job() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            names.add(threading.current_thread().name)
        threading.Event().wait(0.02)
        with lock:
            running -= 1

    try:
        await asyncio.gather(*(pool.run(job) for _ in range(8)))
        assert most == 2
        assert names <= {"inference_0", "inference_1"}
    finally:
        pool.shutdown()


async def test_shutdown_cancels_queued_jobs_and_refuses_new_ones() -> None:
    pool = InferencePool(1)
    gate = threading.Event()
    holder = await _blocked(pool, gate)
    queued = asyncio.ensure_future(pool.run(sum, [1]))
    await asyncio.sleep(0)
    pool.shutdown()
    gate.set()
    await holder  # the running job finishes
    with pytest.raises(asyncio.CancelledError):
        await queued
    with pytest.raises(RuntimeError, match="shut down"):
        await pool.run(sum, [1])


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        InferencePool(0)
