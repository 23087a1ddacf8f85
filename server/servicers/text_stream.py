"""TextStream: one StreamingSynthesizeText call, text pieces in and unit audio out.

A reader task turns request messages into events on a queue; the speaking loop cuts text into
units (server/tts/units.py), runs each unit's encoder and its decoder windows on the inference
pool and yields a response per window. Between two windows it takes in whatever arrived, so a
clear stops the audio within one chunk and no window of dropped text is computed; cancelling the
call ends the loop at its next await, leaving at most the window in progress to finish.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from voxserve.server import metrics
from voxserve.server.audio.encode import encode
from voxserve.server.audio.resample import StreamResampler
from voxserve.server.engines import Voice
from voxserve.server.errors import InvalidArgument
from voxserve.server.inference import InferencePool
from voxserve.server.tts.types import SynthesisOptions, UnitPlan
from voxserve.server.tts.units import TextUnit, UnitCutter
from voxserve.v1 import synthesizer_pb2
from voxserve.v1.synthesizer_pb2 import StreamingSynthesizeTextRequest as Request
from voxserve.v1.synthesizer_pb2 import StreamingSynthesizeTextResponse as Response


@dataclass(frozen=True)
class Output:
    """The stream's audio: encoder name, its codec on the wire, rate in Hz, language spoken."""

    encoding: str
    encoding_enum: int
    rate_hz: int
    language_code: str


class _End:
    """The client half-closed the request stream."""


_Event: TypeAlias = "Request | _End | BaseException"


class TextStream:
    """Per-call state: the unit cutter, units waiting to be spoken, the audio position."""

    def __init__(self, voice: Voice, options: SynthesisOptions, output: Output,
                 pool: InferencePool, max_text_bytes: int) -> None:
        self._voice = voice
        self._options = options
        self._output = output
        self._pool = pool
        self._max_text_bytes = max_text_bytes
        self._cutter = UnitCutter(voice.clauses)
        self._units: collections.deque[TextUnit] = collections.deque()
        self._events: asyncio.Queue[_Event] = asyncio.Queue()
        self._text_bytes = 0
        self._ended = False
        self._cleared = False  # a clear arrived: the unit being spoken stops
        self._resampler = StreamResampler(voice.info.sample_rate_hz, output.rate_hz)
        self._voice_samples = 0  # the stream's audio so far, at the voice's rate

    async def responses(self, requests: AsyncIterator[Request]) -> AsyncIterator[Response]:
        """Responses until the client's half-close has been spoken; raises what ended it."""
        reader = asyncio.create_task(self._read(requests))
        try:
            while not (self._ended and not self._units):
                if not self._units:
                    await self._take(await self._events.get())
                if self._cleared:
                    self._cleared = False
                    yield Response(cleared=True)
                    continue
                if self._units:
                    async for response in self._speak(self._units.popleft()):
                        yield response
            tail = self._resampler.flush()
            if tail.size:
                yield self._chunk(tail, None)
        finally:
            reader.cancel()  # client cancellation lands here too: stop reading at once

    async def _read(self, requests: AsyncIterator[Request]) -> None:
        try:
            async for request in requests:
                await self._events.put(request)
            await self._events.put(_End())
        except Exception as error:  # noqa: BLE001 - handed to the speaking loop, which raises it
            await self._events.put(error)

    async def _take(self, event: _Event) -> None:
        """Apply one event: text to the cutter, a flush, a clear, the end or an error."""
        if isinstance(event, BaseException):
            raise event
        if isinstance(event, _End):
            self._units.extend(await self._pool.run(self._cutter.flush))
            self._ended = True
            return
        kind = event.WhichOneof("streaming_request")
        if kind == "text":
            self._text_bytes += len(event.text.encode("utf-8", errors="surrogatepass"))
            if self._text_bytes > self._max_text_bytes:
                raise InvalidArgument(
                    f"the stream's text is {self._text_bytes} bytes so far; the limit is "
                    f"{self._max_text_bytes} bytes (--max-streaming-text-bytes)", field="text"
                )
            self._units.extend(await self._pool.run(self._cutter.push, event.text))
        elif kind == "flush":
            self._units.extend(await self._pool.run(self._cutter.flush))
        elif kind == "clear":
            self._cutter.clear()
            self._units.clear()
            self._resampler = StreamResampler(self._voice.info.sample_rate_hz,
                                              self._output.rate_hz)
            self._cleared = True
        elif kind == "config":
            raise InvalidArgument("config may only be the first message of a text stream",
                                  field="config")

    async def _take_waiting(self) -> None:
        """Apply every event that has arrived, without waiting."""
        while not self._events.empty():
            await self._take(self._events.get_nowait())

    async def _speak(self, unit: TextUnit) -> AsyncIterator[Response]:
        """One unit, window by window; stops early at a clear."""
        await self._take_waiting()
        if self._cleared:
            return
        started_s = time.perf_counter()
        plan = await self._pool.run(self._voice.plan_unit, unit, self._options)
        if plan is None:
            return
        unit_start = self._voice_samples
        for index in range(len(plan.windows)):
            await self._take_waiting()
            if self._cleared:
                return
            audio = await self._pool.run(self._voice.render_window, plan, index)
            yield self._chunk(self._resampler.push(audio), plan, index, unit_start)
            self._voice_samples += audio.size
        metrics.observe_real_time_factor(
            "synthesis", time.perf_counter() - started_s,
            (self._voice_samples - unit_start) / self._voice.info.sample_rate_hz)

    def _chunk(self, samples: np.ndarray, plan: UnitPlan | None, index: int = 0,
               unit_start: int = 0) -> Response:
        """A response with `samples` (output rate) starting at the stream's current position;
        with a plan, window `index` of its unit and the words that start in it."""
        rate = self._voice.info.sample_rate_hz
        words = []
        if plan is not None:
            start, end = plan.window_samples(index)
            last = index == len(plan.windows) - 1
            words = [
                synthesizer_pb2.WordTiming(
                    word=w.word,
                    start_offset_ms=round(1000 * (unit_start + w.start_sample) / rate),
                    end_offset_ms=round(1000 * (unit_start + w.end_sample) / rate),
                )
                for w in plan.words if start <= w.start_sample and (last or w.start_sample < end)
            ]
        return Response(
            audio_content=encode(samples, self._output.encoding, self._output.rate_hz),
            sample_rate_hz=self._output.rate_hz,
            encoding=self._output.encoding_enum,  # type: ignore[arg-type]
            language_code=self._output.language_code,
            start_offset_ms=round(1000 * self._voice_samples / rate),
            audio_duration_ms=round(1000 * samples.size / self._output.rate_hz),
            unit_index=plan.unit.index if plan else 0,
            text=plan.unit.text.strip() if plan and index == 0 else "",
            words=words,
        )
