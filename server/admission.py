"""Admission: caps on concurrent calls per kind, refusing the excess at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from voxserve.server.errors import Overloaded


class Admission:
    """Counts calls in flight for one kind of work; refuses past `capacity` with Overloaded.

    Refusing at once (rather than queueing) lets a client or load balancer retry elsewhere.
    Only the event-loop thread touches the counter, so no lock is needed.
    """

    def __init__(self, kind: str, capacity: int) -> None:
        self.kind = kind
        self.capacity = capacity
        self.active = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.capacity:
            raise Overloaded(
                f"server is at capacity: {self.capacity} concurrent {self.kind} calls; retry later"
            )
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1
