"""Retry: which failed calls may go again, after what pause, and over which connection.

A server at capacity or draining refuses a call before doing any work (RESOURCE_EXHAUSTED with
the retry flag, or UNAVAILABLE), so sending it again elsewhere is safe; so is a call whose
replica went away mid-call, since no voxserve call changes anything. Each retry moves to the
next target over a fresh connection: behind a TCP load balancer (a Kubernetes Service) a new
connection lands on another replica, while the old one may stay pinned to the busy or dying one.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import grpc

C = TypeVar("C")
T = TypeVar("T")

# Trailing metadata the server adds to refusals worth retrying elsewhere (at capacity).
RETRYABLE_KEY = "voxserve-retryable"
# The same refusal from servers that predate the flag: voxserve's admission message.
OVERLOADED_PREFIX = "server is at capacity"
# A replica lost mid-call shows as UNAVAILABLE ("Socket closed") on a direct connection, but
# behind a proxy such as nginx, which resets the stream, as INTERNAL "Stream removed
# (RST_STREAM ...)". An INTERNAL error the server itself sends is not retried.
RESET_MARKERS = ("RST_STREAM", "Stream removed")
# Replaced connections are closed only when the client closes (closing one would cancel calls
# other threads still run on it); past this many, the oldest is closed.
MAX_RETIRED_CONNECTIONS = 8


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently refused calls are retried (max_attempts=1: never)."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    backoff_multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not 0 <= self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError("need 0 <= initial_backoff_s <= max_backoff_s")
        if self.backoff_multiplier < 1:
            raise ValueError("backoff_multiplier must be >= 1")

    def backoff_s(self, retry: int) -> float:
        """Pause before retry number `retry` (1, 2, ...): full jitter under an exponential cap,
        so clients refused together do not come back together."""
        cap = self.initial_backoff_s * self.backoff_multiplier ** (retry - 1)
        return random.uniform(0, min(self.max_backoff_s, cap))


def is_retryable(error: grpc.RpcError) -> bool:
    """UNAVAILABLE (draining, unreachable, connection lost), a refusal at capacity, or a stream
    reset by a proxy when its replica went away.

    Other RESOURCE_EXHAUSTED errors are limits of the request itself (audio too large): sending
    it again would fail again.
    """
    if not isinstance(error, (grpc.Call, grpc.aio.AioRpcError)):
        return False  # raised before any call was made
    code, details = error.code(), error.details() or ""
    if code == grpc.StatusCode.UNAVAILABLE:
        return True
    if code == grpc.StatusCode.INTERNAL:
        return any(marker in details for marker in RESET_MARKERS)
    if code != grpc.StatusCode.RESOURCE_EXHAUSTED:
        return False
    if any(key == RETRYABLE_KEY for key, _ in error.trailing_metadata() or ()):
        return True
    return details.startswith(OVERLOADED_PREFIX)


@dataclass(frozen=True)
class Lease(Generic[C]):
    """One connection handed out for one attempt, and where it came from."""

    index: int
    target: str
    connection: C


class Replicas(Generic[C]):
    """One connection per target, opened lazily; a failed attempt moves later ones to the next
    target, and the failed connection is replaced by a fresh one. Thread-safe."""

    def __init__(self, targets: Sequence[str], connect: Callable[[str], C],
                 close: Callable[[C], None]) -> None:
        if not targets:
            raise ValueError("need at least one target")
        self.targets = tuple(targets)
        self._connect = connect
        self._close = close
        self._connections: list[C | None] = [None] * len(self.targets)
        self._retired: list[C] = []
        self._current = 0
        self._lock = threading.Lock()

    def lease(self) -> Lease[C]:
        with self._lock:
            index = self._current
            connection = self._connections[index]
            if connection is None:
                connection = self._connections[index] = self._connect(self.targets[index])
            return Lease(index, self.targets[index], connection)

    def failed(self, lease: Lease[C]) -> None:
        """The attempt on `lease` was refused or lost: use the next target, anew."""
        with self._lock:
            if self._connections[lease.index] is lease.connection:
                self._connections[lease.index] = None
                self._retired.append(lease.connection)
                if len(self._retired) > MAX_RETIRED_CONNECTIONS:
                    self._close(self._retired.pop(0))
            if self._current == lease.index:
                self._current = (lease.index + 1) % len(self.targets)

    def close(self) -> None:
        with self._lock:
            for connection in [*self._retired, *self._connections]:
                if connection is not None:
                    self._close(connection)
            self._connections = [None] * len(self.targets)
            self._retired = []


def call_with_retry(replicas: Replicas[C], policy: RetryPolicy,
                    attempt: Callable[[C, float | None], T], timeout_s: float | None = None) -> T:
    """Run `attempt(connection, timeout_s_left)` until it succeeds, fails for good, runs out of
    attempts or would pass the overall `timeout_s`."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    for number in itertools.count(1):
        lease = replicas.lease()
        left_s = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return attempt(lease.connection, left_s)
        except grpc.RpcError as error:
            if number >= policy.max_attempts or not is_retryable(error):
                raise
            replicas.failed(lease)
            pause_s = policy.backoff_s(number)
            if deadline is not None and time.monotonic() + pause_s >= deadline:
                raise
            time.sleep(pause_s)
    raise AssertionError("unreachable")  # itertools.count never ends
