"""Admission: caps on concurrent calls per kind, refusing the excess at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from voxserve.server import metrics
from voxserve.server.errors import Overloaded
from voxserve.server.metrics import Kind


class Admission:
    """Counts calls in flight for one kind of work; refuses past `capacity` with Overloaded.

    Refusing at once (rather than queueing) lets a client or load balancer retry elsewhere.
    Take the slot before sending anything (no response headers yet), so the refusal is a plain
    RESOURCE_EXHAUSTED that clients may retry on another replica.
    Only the event-loop thread touches the counter, so no lock is needed.
    """

    def __init__(self, kind: Kind, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"{kind} capacity must be >= 1, not {capacity}")
        self.kind: Kind = kind
        self.capacity = capacity
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        metrics.set_capacity(kind, capacity)
        metrics.admission_changed(kind, 0)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.capacity:
            metrics.count_refusal(self.kind)
            raise Overloaded(
                f"server is at capacity: {self.capacity} concurrent {self.kind} calls; retry later"
                " or on another replica"
            )
        self.active += 1
        self._idle.clear()
        metrics.admission_changed(self.kind, self.active)
        try:
            yield
        finally:
            self.active -= 1
            if self.active == 0:
                self._idle.set()
            metrics.admission_changed(self.kind, self.active)

    async def wait_idle(self) -> None:
        """Until no call holds a slot."""
        await self._idle.wait()
