"""ArrivalClock: when each stretch of a stream's audio arrived, to time finals from the end of
speech rather than from the endpoint decision."""

from __future__ import annotations

import collections

# Arrival times kept per stream to time finals from the end of speech: one per audio message
# (about 100 ms each), pruned as finals are timed; the bound caps a stream that never ends one.
ARRIVALS_KEPT = 4096


class ArrivalClock:
    """When each stretch of a stream's audio arrived: maps a stream offset to the perf_counter
    time at which the audio up to it had been received. Lookups must not go backwards."""

    def __init__(self, kept: int = ARRIVALS_KEPT) -> None:
        self._marks: collections.deque[tuple[float, float]] = collections.deque(maxlen=kept)

    def mark(self, received_s: float, at_s: float) -> None:
        """All audio up to stream offset `received_s` had arrived at time `at_s`."""
        self._marks.append((received_s, at_s))

    def when(self, offset_s: float) -> float | None:
        """When the audio at stream offset `offset_s` had arrived; None if no longer known."""
        while len(self._marks) > 1 and self._marks[1][0] < offset_s - 1e-9:
            self._marks.popleft()
        for received_s, at_s in self._marks:
            if received_s >= offset_s - 1e-9:
                return at_s
        return None
