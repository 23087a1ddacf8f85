"""InferencePool: the bounded thread pool that runs every blocking model call off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from voxserve.server import metrics

P = ParamSpec("P")
T = TypeVar("T")


class InferencePool:
    """A fixed number of worker threads shared by all RPCs; ONNX Runtime releases the GIL."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        submitted_s = time.perf_counter()

        def job() -> T:
            metrics.observe_queue_wait(time.perf_counter() - submitted_s)
            return fn(*args, **kwargs)

        return await loop.run_in_executor(self._executor, job)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
