"""StopSignal: how the caller of a long job, gone (cancelled or past its deadline), tells the
job to stop: between its steps (windows, tokens, sentences) and inside a model run.

The inference pool gives every job a signal and makes it the worker thread's current one
(`current_stop`) while the job runs, so the runtime can abort an ONNX Runtime run in progress
(runtime.run) without the signal being handed down through every layer in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from voxserve.server.errors import Cancelled


class StopSignal:
    """Set once, from any thread; hooks registered with `on_set` run when it is set."""

    def __init__(self) -> None:
        self._set = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            self._set.set()
            hooks, self._hooks = self._hooks, []
        for hook in hooks:
            hook()

    def is_set(self) -> bool:
        return self._set.is_set()

    @contextmanager
    def on_set(self, hook: Callable[[], None]) -> Iterator[None]:
        """Run `hook` if the signal is set while the block runs (at once if it already is)."""
        with self._lock:
            registered = not self._set.is_set()
            if registered:
                self._hooks.append(hook)
        if not registered:
            hook()
        try:
            yield
        finally:
            with self._lock:
                if hook in self._hooks:
                    self._hooks.remove(hook)


def check_stop(stop: StopSignal | None) -> None:
    """Raise Cancelled once `stop` is set; jobs call this between steps."""
    if stop is not None and stop.is_set():
        raise stopped()


def stopped() -> Cancelled:
    """The error of a job stopped because its caller went away."""
    return Cancelled("the call ended (cancelled or past its deadline); its work was stopped")


_worker = threading.local()


@contextmanager
def running_under(stop: StopSignal) -> Iterator[None]:
    """Make `stop` this thread's current signal while the block (one job) runs."""
    outer = getattr(_worker, "stop", None)
    _worker.stop = stop
    try:
        yield
    finally:
        _worker.stop = outer


def current_stop() -> StopSignal | None:
    """The signal of the job this thread runs; None outside the inference pool."""
    return getattr(_worker, "stop", None)
