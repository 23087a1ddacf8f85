"""Live stream client for the streaming bench: paces audio at real time over StreamingRecognize
and records when each chunk was sent and when each response arrived (raw grpc.aio on the proto)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from bench.recordings import Conversation
from bench.support import RATE_HZ
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc


@dataclass(frozen=True)
class StreamRun:
    """What one stream sent and heard; times are perf_counter seconds."""

    conversation: Conversation
    chunk_samples: int
    scheduled_at: float  # when the stream started: chunk k is due one chunk after its last sample
    sent_at: tuple[float, ...]  # chunk k handed to gRPC
    heard: tuple[tuple[float, recognizer_pb2.StreamingRecognizeResponse], ...]
    ended_at: float  # the server closed the response stream

    def chunk_sent_at(self, offset_s: float) -> float:
        """When the chunk holding the sample at `offset_s` of the stream was sent."""
        index = min(int(offset_s * RATE_HZ) // self.chunk_samples, len(self.sent_at) - 1)
        return self.sent_at[index]

    @property
    def send_lag_s(self) -> float:
        """Worst delay of a chunk behind its real-time schedule (the client's own lag)."""
        chunk_s = self.chunk_samples / RATE_HZ
        return max(t - (self.scheduled_at + (k + 1) * chunk_s) for k, t in enumerate(self.sent_at))


def pcm_chunks(audio: np.ndarray, chunk_samples: int) -> list[bytes]:
    """LINEAR16 little-endian chunks of `chunk_samples` (the last may be shorter)."""
    pcm = (np.clip(audio, -1, 1) * 32767).round().astype("<i2")
    return [pcm[i:i + chunk_samples].tobytes() for i in range(0, len(pcm), chunk_samples)]


def streaming_config(interim: bool,
                     min_silence_ms: int) -> recognizer_pb2.StreamingRecognitionConfig:
    """LINEAR16 16 kHz mono; min_silence_ms 0 takes the server's default."""
    return recognizer_pb2.StreamingRecognitionConfig(
        config=recognizer_pb2.RecognitionConfig(
            encoding=audio_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE_HZ,
            audio_channel_count=1),
        interim_results=interim,
        endpointing=recognizer_pb2.EndpointingConfig(min_silence_ms=min_silence_ms or None),
    )


async def run_stream(stub: recognizer_pb2_grpc.RecognizerStub, conversation: Conversation,
                     config: recognizer_pb2.StreamingRecognitionConfig, chunk_ms: int,
                     start_at: float) -> StreamRun:
    """Stream `conversation` paced at real time from `start_at`, then half-close."""
    chunk_samples = RATE_HZ * chunk_ms // 1000
    chunks = pcm_chunks(conversation.audio, chunk_samples)
    sent_at: list[float] = []

    async def requests() -> AsyncIterator[recognizer_pb2.StreamingRecognizeRequest]:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        yield recognizer_pb2.StreamingRecognizeRequest(streaming_config=config)
        for index, chunk in enumerate(chunks):
            # Sent when a microphone would have captured all of it, on an absolute schedule so a
            # late chunk does not push the later ones back.
            due = start_at + (index + 1) * chunk_ms / 1000
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            sent_at.append(time.perf_counter())
            yield recognizer_pb2.StreamingRecognizeRequest(audio_content=chunk)

    heard: list[tuple[float, recognizer_pb2.StreamingRecognizeResponse]] = []
    async for response in stub.StreamingRecognize(requests()):
        heard.append((time.perf_counter(), response))
    return StreamRun(conversation, chunk_samples, start_at, tuple(sent_at), tuple(heard),
                     time.perf_counter())
