"""Candidates: one stream's candidate finals being decoded beside its decoder loop.

The reader starts each candidate as it hands it over (session.py's CandidateRequest); the final
that names one takes its transcript instead of decoding; a candidate that no final can name any
more (its utterance has a newer one, or ended without it) is cancelled, and so is every one
still running when the stream ends, so an abandoned call stops its work.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from voxserve.server import metrics
from voxserve.server.asr.types import Transcript
from voxserve.server.inference import discard_outcome
from voxserve.server.streaming.session import CandidateRequest, FinalRequest


class Candidates:
    """The running candidate decodes of one stream, by request (event-loop only)."""

    def __init__(self, decode: Callable[[CandidateRequest], Awaitable[Transcript]]) -> None:
        self._decode = decode
        self._tasks: dict[CandidateRequest, asyncio.Task[Transcript]] = {}

    def start(self, request: CandidateRequest) -> None:
        """Decode `request` now; its utterance's older candidates are stale."""
        self._drop(request.utterance_index, keep=None)
        task = asyncio.ensure_future(self._decode(request))
        # a dropped candidate's failure is nobody's to raise
        task.add_done_callback(discard_outcome)
        self._tasks[request] = task

    def settle(self, final: FinalRequest) -> None:
        """`final` is queued: its utterance's candidates other than the one it names are stale."""
        self._drop(final.utterance_index, keep=final.candidate)

    async def take(self, final: FinalRequest) -> Transcript | None:
        """The transcript of the candidate `final` names; None when it names none or that
        decode failed (the final then decodes its own audio, where a real fault shows)."""
        task = self._tasks.pop(final.candidate, None) if final.candidate else None
        if task is None:
            return None
        try:
            transcript = await task
        except Exception:  # noqa: BLE001 - decoded again as the final, which reports it
            return None
        metrics.count_candidate(used=True)
        return transcript

    def cancel_all(self) -> None:
        """The stream ended: stop every candidate still held."""
        for task in self._tasks.values():
            task.cancel()
            metrics.count_candidate(used=False)
        self._tasks.clear()

    def _drop(self, utterance_index: int, keep: CandidateRequest | None) -> None:
        for stale in [c for c in self._tasks if c.utterance_index == utterance_index
                      and c is not keep]:
            self._tasks.pop(stale).cancel()
            metrics.count_candidate(used=False)
