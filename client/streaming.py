"""Live recognition calls: feed audio to StreamingRecognize while iterating over its responses.

`StreamingRecognizer` is the blocking API (use it from threads), `AsyncStreamingRecognizer` the
asyncio one. Both take their audio either up front, as an iterable that gRPC reads as it sends,
or piece by piece with `send()` and a final `close()` (half-close: the server flushes the last
utterance's final result, then ends the call). `finalize()` (or FINALIZE among the audio chunks)
ends the open utterance at once, for push-to-talk, and the stream goes on. Iterating gives
every StreamingRecognizeResponse (speech events, interim and final results) until the call
ends; an error status is raised as grpc.RpcError. Leaving the `with` block cancels a call
that is still open.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc

from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

Request: TypeAlias = recognizer_pb2.StreamingRecognizeRequest
Response: TypeAlias = recognizer_pb2.StreamingRecognizeResponse
Metadata: TypeAlias = tuple[tuple[str, str], ...]

# Larger chunks are split: the server refuses audio messages past --max-message-audio-bytes
# (1 MiB by default); 64 KiB is 2 s of 16 kHz LINEAR16.
RAW_ENCODINGS = (audio_pb2.AUDIO_ENCODING_LINEAR16, audio_pb2.AUDIO_ENCODING_MULAW,
                 audio_pb2.AUDIO_ENCODING_ALAW)
MAX_MESSAGE_AUDIO_BYTES = 64 * 1024
# Chunks send() may queue before it blocks; gRPC flow control holds the rest back.
MAX_QUEUED_CHUNKS = 64
_POLL_S = 0.1


class _Finalize:
    """The marker of a finalize message among audio chunks."""

    def __repr__(self) -> str:
        return "FINALIZE"


FINALIZE = _Finalize()
Chunk: TypeAlias = bytes | _Finalize


@dataclass(frozen=True)
class StreamSettings:
    """What a stream is told in its first message; None takes the server's default."""

    sample_rate_hz: int = 16000
    encoding: audio_pb2.AudioEncoding = audio_pb2.AUDIO_ENCODING_LINEAR16
    channels: int = 1
    model: str = ""
    language: str = ""
    words: bool = False
    language_codes: tuple[str, ...] = ()  # candidates for detection (with `language` empty)
    translate_to_english: bool = False
    interim_results: bool = False
    interim_interval_ms: int | None = None
    single_utterance: bool = False
    endpointing: recognizer_pb2.EndpointingConfig = field(
        default_factory=recognizer_pb2.EndpointingConfig)

    def __post_init__(self) -> None:
        if self.encoding not in RAW_ENCODINGS:
            raise ValueError("a stream's encoding must be LINEAR16, MULAW or ALAW")
        if self.sample_rate_hz <= 0 or self.channels <= 0:
            raise ValueError("sample_rate_hz and channels must be > 0")

    def message(self) -> recognizer_pb2.StreamingRecognitionConfig:
        return recognizer_pb2.StreamingRecognitionConfig(
            config=recognizer_pb2.RecognitionConfig(
                encoding=self.encoding, sample_rate_hz=self.sample_rate_hz,
                audio_channel_count=self.channels, model=self.model,
                language_code=self.language, enable_word_time_offsets=self.words,
                language_codes=list(self.language_codes),
                translate_to_english=self.translate_to_english,
            ),
            interim_results=self.interim_results,
            interim_interval_ms=self.interim_interval_ms,  # None leaves it unset
            single_utterance=self.single_utterance,
            endpointing=self.endpointing,
        )


Config: TypeAlias = StreamSettings | recognizer_pb2.StreamingRecognitionConfig


def config_message(config: Config) -> recognizer_pb2.StreamingRecognitionConfig:
    return config.message() if isinstance(config, StreamSettings) else config


def audio_requests(chunk: Chunk) -> Iterator[Request]:
    """One chunk as audio messages no larger than MAX_MESSAGE_AUDIO_BYTES (FINALIZE: the
    finalize message)."""
    if isinstance(chunk, _Finalize):
        yield Request(finalize_utterance=recognizer_pb2.FinalizeUtterance())
        return
    for at in range(0, len(chunk), MAX_MESSAGE_AUDIO_BYTES):
        yield Request(audio_content=chunk[at : at + MAX_MESSAGE_AUDIO_BYTES])


class StreamingRecognizer:
    """A blocking StreamingRecognize call. Thread-safe: send from one thread, read in another."""

    def __init__(self, stub: recognizer_pb2_grpc.RecognizerStub, config: Config, *,
                 audio: Iterable[Chunk] | None = None, metadata: Metadata = (),
                 timeout_s: float | None = None) -> None:
        self._config = config_message(config)
        self._audio = audio
        self._queue: queue.Queue[Chunk | None] = queue.Queue(MAX_QUEUED_CHUNKS)  # None: close
        self._closed = False
        self._ended = threading.Event()
        self._call: Any = stub.StreamingRecognize(
            self._requests(), metadata=metadata, timeout=timeout_s)
        self._call.add_done_callback(lambda _: self._end())

    def __enter__(self) -> StreamingRecognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def __iter__(self) -> Iterator[Response]:
        return iter(self._call)

    def send(self, chunk: Chunk) -> None:
        """Queue audio to send (blocks while MAX_QUEUED_CHUNKS wait); raises once the call ended."""
        if self._audio is not None:
            raise RuntimeError("this stream reads its audio from the iterable it was given")
        if self._closed:
            raise RuntimeError("send() after close()")
        while not self._ended.is_set():
            try:
                self._queue.put(chunk, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        raise RuntimeError("the stream has ended; no more audio is read")

    def finalize(self) -> None:
        """End the open utterance now (push-to-talk release): its final follows at once."""
        self.send(FINALIZE)

    def close(self) -> None:
        """Half-close: no more audio. The server sends the last finals, then ends the call."""
        if self._audio is not None or self._closed:
            return
        self._closed = True
        while not self._ended.is_set():
            try:
                self._queue.put(None, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def cancel(self) -> None:
        """Abandon the call at once (a no-op once it has ended)."""
        self._call.cancel()

    def result_code(self) -> grpc.StatusCode:
        """The final status (blocks until the call ends)."""
        return self._call.code()

    def _requests(self) -> Iterator[Request]:
        yield Request(streaming_config=self._config)
        if self._audio is not None:
            for chunk in self._audio:
                yield from audio_requests(chunk)
            return
        while (queued := self._queue.get()) is not None:
            yield from audio_requests(queued)

    def _end(self) -> None:
        """The call is over: unblock gRPC's sending thread and any send() waiting for room."""
        self._ended.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._queue.put_nowait(None)


class AsyncStreamingRecognizer:
    """An asyncio StreamingRecognize call on a grpc.aio channel (see connection.open_aio_channel).

    send() and close() from one task at a time; iterate in another.
    """

    def __init__(self, channel: grpc.aio.Channel, config: Config, *,
                 audio: Iterable[Chunk] | AsyncIterable[Chunk] | None = None,
                 metadata: Metadata = (), timeout_s: float | None = None) -> None:
        self._config = config_message(config)
        self._feeding = audio is not None
        requests = None if audio is None else self._requests(audio)
        stub = recognizer_pb2_grpc.RecognizerStub(channel)
        self._call: Any = stub.StreamingRecognize(requests, metadata=metadata, timeout=timeout_s)
        self._config_sent: asyncio.Future[None] | None = None
        self._closed = False

    async def __aenter__(self) -> AsyncStreamingRecognizer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    def __aiter__(self) -> AsyncIterator[Response]:
        return self._responses()

    async def send(self, chunk: Chunk) -> None:
        """Send audio (waits for gRPC flow control)."""
        if self._feeding:
            raise RuntimeError("this stream reads its audio from the iterable it was given")
        if self._closed:
            raise RuntimeError("send() after close()")
        await self._send_config()
        for request in audio_requests(chunk):
            await self._call.write(request)

    async def finalize(self) -> None:
        """End the open utterance now (push-to-talk release): its final follows at once."""
        await self.send(FINALIZE)

    async def close(self) -> None:
        """Half-close: no more audio. The server sends the last finals, then ends the call."""
        if self._feeding or self._closed:
            return
        await self._send_config()
        self._closed = True
        await self._call.done_writing()

    def cancel(self) -> None:
        """Abandon the call at once (a no-op once it has ended)."""
        self._call.cancel()

    async def result_code(self) -> grpc.StatusCode:
        """The final status (waits until the call ends)."""
        return await self._call.code()

    def _send_config(self) -> asyncio.Future[None]:
        """The config's write, started once by whichever of send/close/iteration comes first."""
        if self._config_sent is None:
            self._config_sent = asyncio.ensure_future(
                self._call.write(Request(streaming_config=self._config)))
        return self._config_sent

    async def _responses(self) -> AsyncIterator[Response]:
        if not self._feeding:
            await self._send_config()
        async for response in self._call:
            yield response

    async def _requests(
        self, audio: Iterable[Chunk] | AsyncIterable[Chunk]
    ) -> AsyncIterator[Request]:
        yield Request(streaming_config=self._config)
        if isinstance(audio, AsyncIterable):
            async for chunk in audio:
                for request in audio_requests(chunk):
                    yield request
            return
        for chunk in audio:
            for request in audio_requests(chunk):
                yield request
