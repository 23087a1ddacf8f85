"""LiveStream: one StreamingRecognize call's pipeline, from audio chunks to events and results.

A reader task takes audio chunks from the client, feeds the stream's StreamSession and hands its
actions over through a bounded feed; the decoder loop (the call's own task) runs each decode
request on the shared inference pool and yields what the client should hear. Reading goes on
while a decode runs, so a client sending faster than real time is processed, and the feed's
bound pushes back on it (gRPC flow control) when decoding falls behind.

Candidate finals (session.py) are decoded as soon as the reader hands them over, beside the
decoder loop; the final that names one awaits it instead of decoding, and one overtaken by
resumed speech is cancelled (or, already on a worker, its result dropped).

How a stream ends:
- half-close or a single utterance done: finals for all audio received are sent, then the call
  ends OK;
- drain (`draining` set): reading goes on until no utterance is open (at once between
  utterances; an open one is heard to its natural end, for at most `drain_handover_s`); the
  finals of the utterances that ended are sent, and the call ends with HandedOver (UNAVAILABLE)
  naming the end of the last final: the client resumes elsewhere from there, replaying only
  audio no final covers. An utterance still open is never finalized early (mid-word);
- a limit crossed or a bad message (the chunk iterator raises a VoxserveError), no audio for
  `idle_timeout_s`, or `speech_idle_timeout_s` of audio without speech (DeadlineExceeded):
  finals for the audio already received are sent first, then the error ends the call;
- the client cancels: the call's task is cancelled and the reader task with it, at once.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from voxserve.server import metrics
from voxserve.server.asr.types import Transcript
from voxserve.server.errors import (
    DeadlineExceeded,
    HandedOver,
    LimitExceeded,
    VoxserveError,
)
from voxserve.server.inference import InferencePool, Priority, discard_outcome
from voxserve.server.stop import StopSignal, running_under
from voxserve.server.streaming.arrivals import ArrivalClock
from voxserve.server.streaming.candidates import Candidates
from voxserve.server.streaming.endpointer import SpeechEnded, SpeechStarted
from voxserve.server.streaming.session import (
    Action,
    CandidateRequest,
    DecodeRequest,
    EndOfSingleUtterance,
    FinalRequest,
    InterimRequest,
    StreamResult,
    StreamSession,
)
from voxserve.server.streaming.settings import Detector

# Actions (speech events and final requests) waiting between reader and decoder. Each final
# holds at most max_utterance_ms of audio (20 s = 1.25 MiB of float32 by default), so this
# bounds a stream's queued audio to a few MiB; interims never queue (only the newest is kept).
FEED_CAPACITY = 8
_BYTES_PER_SAMPLE = {"linear16": 2, "mulaw": 1, "alaw": 1}

Outcome: TypeAlias = SpeechStarted | SpeechEnded | EndOfSingleUtterance | StreamResult
# What the feed carries: every action but a candidate request, which starts its speculative
# decode at once (Candidates) and is never queued.
FedAction: TypeAlias = (
    SpeechStarted | SpeechEnded | EndOfSingleUtterance | InterimRequest | FinalRequest
)


@dataclass(frozen=True)
class Finalize:
    """The client's finalize message: end the open utterance now."""


Chunk: TypeAlias = bytes | Finalize


@dataclass(frozen=True)
class StreamLimits:
    """The operator's limits on one stream (from ServerConfig)."""

    idle_timeout_s: float
    max_duration_s: float
    speech_idle_timeout_s: float = 300.0  # of stream audio without speech
    drain_handover_s: float = 15.0  # at drain, how long an open utterance may go on

    def __post_init__(self) -> None:
        if min(self.idle_timeout_s, self.max_duration_s, self.speech_idle_timeout_s) <= 0:
            raise ValueError("idle_timeout_s, max_duration_s and speech_idle_timeout_s must be"
                             " > 0")
        if self.drain_handover_s < 0:
            raise ValueError("drain_handover_s must be >= 0")


@dataclass(frozen=True, eq=False)
class _Entry:
    """An action and when the reader produced it (perf_counter seconds)."""

    action: FedAction
    heard_s: float


@dataclass(frozen=True, eq=False)
class _End:
    """The reader is done; `error` (if any) ends the call once the feed is drained."""

    error: BaseException | None


class ActionFeed:
    """Reader -> decoder hand-over: a bounded FIFO of events and finals, plus the newest interim.

    An interim replaces the one waiting (a newer one makes it stale) and never blocks the reader.
    The decoder takes queued actions first, then the waiting interim, then the end: anything
    queued was produced before the waiting interim or makes it stale.
    """

    def __init__(self, capacity: int = FEED_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._queue: collections.deque[_Entry] = collections.deque()
        self._interim: _Entry | None = None
        self._end: _End | None = None
        self._changed = asyncio.Condition()

    async def put(self, action: FedAction, heard_s: float) -> None:
        """Hand over one action; waits while `capacity` actions are queued (not for interims)."""
        async with self._changed:
            if isinstance(action, InterimRequest):
                self._interim = _Entry(action, heard_s)
            else:
                await self._changed.wait_for(lambda: len(self._queue) < self._capacity)
                self._queue.append(_Entry(action, heard_s))
            self._changed.notify_all()

    async def end(self, error: BaseException | None) -> None:
        """No more actions; the decoder gets `_End` once it has taken everything before it."""
        async with self._changed:
            self._end = _End(error)
            self._changed.notify_all()

    @property
    def overtaken(self) -> bool:
        """An action is queued or the end is set: a waiting interim is stale."""
        return bool(self._queue) or self._end is not None

    async def wait_overtaken(self) -> None:
        """Wait until an action is queued or the end is set: a waiting interim is then stale."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.overtaken)

    async def get(self) -> _Entry | _End:
        async with self._changed:
            await self._changed.wait_for(
                lambda: bool(self._queue) or self._interim is not None or self._end is not None
            )
            self._changed.notify_all()
            if self._queue:
                return self._queue.popleft()
            if self._interim is not None:
                entry, self._interim = self._interim, None
                return entry
            assert self._end is not None
            return self._end


class InterimBudget:
    """Interim decodes allowed in flight server-wide: one fewer than the pool's workers (at
    least one), so a final always finds a worker that no interim holds. An interim that finds
    no room is skipped; the next one carries newer audio anyway. Thread-safe: workers release.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self._free = slots
        self._lock = threading.Lock()

    @classmethod
    def for_pool(cls, pool: InferencePool) -> InterimBudget:
        return cls(max(1, pool.workers - 1))

    def take(self) -> bool:
        with self._lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def release(self) -> None:
        with self._lock:
            self._free = min(self.slots, self._free + 1)


class LiveStream:
    """One stream's reader task and decoder loop; `outcomes()` runs it to the end."""

    def __init__(self, session: StreamSession, chunks: AsyncIterator[Chunk], pool: InferencePool,
                 budget: InterimBudget, limits: StreamLimits, draining: asyncio.Event) -> None:
        self._session = session
        self._chunks = chunks
        self._pool = pool
        self._budget = budget
        self._limits = limits
        self._draining = draining
        self._feed = ActionFeed()
        self._arrivals = ArrivalClock()
        self._candidates = Candidates(self._decode_candidate)
        # Silero runs an ONNX model per 32 ms frame inside push(): that goes to the pool too, and
        # the lock keeps the session's event-loop-only calls from overlapping it.
        self._offload_push = session.options.endpointing.detector is Detector.SILERO
        self._session_lock = asyncio.Lock()
        options = session.options
        width = _BYTES_PER_SAMPLE[options.encoding]
        self._bytes_per_s = width * options.channels * options.sample_rate_hz
        self._in_speech = False
        self._last_speech_s = 0.0  # stream audio time when speech was last heard
        self._read_ahead: asyncio.Future[Chunk | None] | None = None  # the pending chunk read
        # Done when a decoded candidate moved the endpoint to silence already heard: the reader
        # ends the utterance then, in its own order of actions, not at the next chunk.
        self._endpoint_reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._final_end_s = 0.0  # end of the last final result sent: the resume point
        self._next_utterance = 0  # index of the first utterance with no final yet

    async def outcomes(self) -> AsyncGenerator[Outcome, None]:
        """Speech events and results in stream order; raises the error that ended the stream."""
        drain_wait = asyncio.ensure_future(self._draining.wait())
        reader = asyncio.create_task(self._read(drain_wait))
        try:
            while True:
                entry = await self._feed.get()
                if isinstance(entry, _End):
                    if isinstance(entry.error, _Drained):
                        raise HandedOver(self._final_end_s, self._next_utterance)
                    if entry.error is not None:
                        raise entry.error
                    return
                outcome = await self._outcome(entry)
                if outcome is not None:
                    yield outcome
        finally:
            # Client cancellation lands here too: stop reading, waiting and speculating at once.
            reader.cancel()
            drain_wait.cancel()
            self._candidates.cancel_all()

    async def _outcome(self, entry: _Entry) -> Outcome | None:
        action = entry.action
        if isinstance(action, InterimRequest):
            return await self._interim(action)
        if not isinstance(action, FinalRequest):
            return action
        transcript = await self._candidates.take(action)
        if transcript is None:
            action = dataclasses.replace(action, candidate=None)
            started_s = time.perf_counter()
            final = action
            transcript = await self._pool.run_stoppable(
                lambda stop: self._session.transcribe(final, stop))
            metrics.observe_real_time_factor(
                "recognition", time.perf_counter() - started_s, action.end_s - action.start_s)
        async with self._session_lock:
            result = self._session.result(action, transcript)
        ready_s = time.perf_counter()
        speech_ended_s = self._arrivals.when(action.speech_end_s)
        metrics.observe_final_latency(ready_s - (speech_ended_s or entry.heard_s))
        self._final_end_s = max(self._final_end_s, result.end_s)
        self._next_utterance = max(self._next_utterance, result.utterance_index + 1)
        return dataclasses.replace(result, latency_s=max(0.0, ready_s - entry.heard_s))

    async def _decode_candidate(self, request: CandidateRequest) -> Transcript:
        started_s = time.perf_counter()
        transcript = await self._pool.run_stoppable(
            lambda stop: self._session.transcribe(request, stop))
        metrics.observe_real_time_factor(
            "recognition", time.perf_counter() - started_s, request.end_s - request.start_s)
        async with self._session_lock:
            if (self._session.candidate_decoded(request, transcript)
                    and not self._endpoint_reached.done()):
                self._endpoint_reached.set_result(None)
        return transcript

    async def _interim(self, request: InterimRequest) -> StreamResult | None:
        """The interim's result; None when it is stale, heard no words, found no room in the
        interim budget, or was overtaken.

        Stale before decoding: a newer interim waits in the feed (decode that one instead).
        After decoding, only the utterance's end makes it stale: a newer interim may exist, but
        whenever decoding takes longer than the interim interval that is always so, and the
        client would never see one. An interim still decoding when a speech end or a final is
        queued is abandoned so that the final need not wait for it: it returns at once if it
        has not reached a worker yet, else finishes there with its result dropped.
        """
        if not await self._is_current(request) or not self._budget.take():
            return None
        abandoned = StopSignal()

        def decode_unless_abandoned() -> Transcript | None:
            try:
                if abandoned.is_set():
                    return None
                with running_under(abandoned):  # abandoning it aborts its model run too
                    return self._session.transcribe(request, abandoned)
            finally:
                self._budget.release()

        decode = asyncio.ensure_future(
            self._pool.run_at(Priority.INTERIM, decode_unless_abandoned))
        overtaken = asyncio.ensure_future(self._feed.wait_overtaken())
        try:
            await asyncio.wait((decode, overtaken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            overtaken.cancel()
            if not decode.done():  # overtaken, or the call was cancelled
                abandoned.set()
                decode.add_done_callback(discard_outcome)
        transcript = decode.result() if decode.done() else None
        if transcript is None or self._feed.overtaken:
            return None
        async with self._session_lock:
            result = self._session.result(request, transcript)
        return result if result.text else None

    async def _is_current(self, request: DecodeRequest) -> bool:
        async with self._session_lock:
            return self._session.is_current(request)

    async def _read(self, drain_wait: asyncio.Future[Literal[True]]) -> None:
        """The reader task: chunks into the session, actions into the feed, then the end."""
        error: BaseException | None = None
        try:
            try:
                await self._pump(drain_wait)
            finally:
                if self._read_ahead is not None:
                    self._read_ahead.cancel()
        except _Drained as drained:  # handed over: the open part is heard again elsewhere
            await self._feed.end(drained)
            return
        except VoxserveError as exc:  # a limit or a bad message: flush what was heard first
            error = exc
        except Exception as exc:  # noqa: BLE001 - the session's state is unknown: no flush
            await self._feed.end(exc)
            return
        try:
            await self._put(await self._run_session(self._session.finish))
        except Exception as exc:  # noqa: BLE001 - handed to the decoder, which raises it
            error = error or exc
        await self._feed.end(error)

    async def _pump(self, drain_wait: asyncio.Future[Literal[True]]) -> None:
        """Chunks into the session until half-close; raises _Drained to hand the stream over."""
        loop = asyncio.get_running_loop()
        hand_over_by: float | None = None
        while not self._session.done:
            if not drain_wait.done():
                chunk = await self._next_chunk(drain_wait)
            else:
                if hand_over_by is None:
                    hand_over_by = loop.time() + self._limits.drain_handover_s
                if not self._in_speech or loop.time() >= hand_over_by:
                    raise _Drained()
                timer = asyncio.ensure_future(asyncio.sleep(hand_over_by - loop.time()))
                try:
                    chunk = await self._next_chunk(timer)
                finally:
                    timer.cancel()
            if chunk is _WOKEN:
                continue
            if chunk is None:
                return
            if chunk is _ENDPOINT:
                self._endpoint_reached = asyncio.get_running_loop().create_future()
                actions = await self._run_session(self._session.end_if_silent)
                await self._put(actions)
                self._check_speech_idle(actions)
                continue
            if isinstance(chunk, Finalize):
                actions = await self._run_session(self._session.finalize)
                await self._put(actions)
                self._check_speech_idle(actions)
                continue
            self._check_duration(len(chunk))
            actions = await self._run_session(self._session.push, chunk)
            self._arrivals.mark(self._session.received_s, time.perf_counter())
            await self._put(actions)
            self._check_speech_idle(actions)

    async def _next_chunk(self, wake: asyncio.Future[Any]) -> Chunk | None:
        """The next audio chunk; None at half-close, _WOKEN once `wake` is done first (the
        drain began, or the hand-over time ran out)."""
        # A read outlives a wake-up: cancelling it would close the request stream for good.
        if self._read_ahead is None:
            self._read_ahead = asyncio.ensure_future(anext(self._chunks, None))
        read = self._read_ahead
        endpoint = self._endpoint_reached
        try:
            done, _ = await asyncio.wait(
                (read, wake, endpoint), timeout=self._limits.idle_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            read.cancel()
            raise
        if read in done:
            self._read_ahead = None
            return read.result()
        if wake in done:
            return _WOKEN
        if endpoint in done:
            return _ENDPOINT
        read.cancel()
        raise DeadlineExceeded(
            f"no audio for {self._limits.idle_timeout_s:g} s (--stream-idle-timeout-s); the"
            " stream was ended"
        )

    def _check_speech_idle(self, actions: list[Action]) -> None:
        """DeadlineExceeded once `speech_idle_timeout_s` of audio passed without speech: a
        microphone left open on silence would hold its slot until the stream's duration limit."""
        for action in actions:
            if isinstance(action, (SpeechStarted, SpeechEnded)):
                self._in_speech = isinstance(action, SpeechStarted)
        received_s = self._session.received_s
        if self._in_speech:
            self._last_speech_s = received_s
            return
        limit_s = self._limits.speech_idle_timeout_s
        if received_s - self._last_speech_s >= limit_s:
            raise DeadlineExceeded(
                f"no speech for {limit_s:g} s of audio (--speech-idle-timeout-s); the stream was"
                " ended"
            )

    def _check_duration(self, chunk_bytes: int) -> None:
        limit_s = self._limits.max_duration_s
        if self._session.received_s + chunk_bytes / self._bytes_per_s > limit_s + 1e-9:
            raise LimitExceeded(
                f"stream audio passed {limit_s:g} s (--max-stream-duration-s); start a new"
                " stream to go on"
            )

    async def _run_session(self, step: Callable[..., list[Action]], *args: bytes
                           ) -> list[Action]:
        """session.push / session.finish: on the pool for Silero; inline for WebRTC, which costs
        about 1 ms per second of audio (measured), too little to be worth a thread hop."""
        if not self._offload_push:
            return list(step(*args))
        async with self._session_lock:
            return list(await self._pool.run(step, *args))

    async def _put(self, actions: list[Action]) -> None:
        heard_s = time.perf_counter()
        for action in actions:
            if isinstance(action, CandidateRequest):
                self._candidates.start(action)
                continue
            if isinstance(action, FinalRequest):
                self._candidates.settle(action)
            await self._feed.put(action, heard_s)


class _Drained(Exception):
    """The reader stopped for the drain with no utterance open: end the call handed over."""


# _next_chunk's answers when its wake-up future came first, or a decoded candidate found its
# endpoint already reached (compared by identity).
_WOKEN = b"\x00woken"
_ENDPOINT = b"\x00endpoint"
