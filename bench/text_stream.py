"""StreamingSynthesizeText in the TTS bench: text sent whole or at a language model's pace.

A voice agent's language model writes its answer token by token. voxserve takes the tokens as
they come (StreamingSynthesizeText); piper-tts needs whole sentences, so an agent in front of it
waits for the first sentence's end and then synthesizes it: its first audio comes when that
sentence has arrived plus piper-tts' own time to its first chunk, which the bench measures.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np

from bench.cpu import cpu_seconds
from voxserve.client.client import text_requests
from voxserve.v1 import audio_pb2, synthesizer_pb2, synthesizer_pb2_grpc

# A first sentence of 38 words and no comma: the longest wait for a sentence-sized first chunk.
LONG_SENTENCE = (
    "The old ferryman who had been waiting patiently by the river since early in the morning "
    "finally saw the travellers coming down the hill with their heavy bags and tired horses "
    "just before the sun went slowly down."
)
# One token is a word with the space before it, or a punctuation mark: about what a language
# model's tokenizer makes of plain English (0.75-1 words a token).
_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]")


def tokens(text: str) -> list[str]:
    """`text` cut into tokens; they join back into `text` exactly."""
    pieces = _TOKEN.findall(text)
    assert "".join(pieces) == text.rstrip(), "the tokenizer must keep every character"
    return pieces


def first_sentence_arrives_s(text: str, tokens_per_s: float) -> float:
    """When the token ending the first sentence has been written, at `tokens_per_s`."""
    for index, token in enumerate(tokens(text)):
        if token.strip() in (".", "!", "?"):
            return index / tokens_per_s
    return (len(tokens(text)) - 1) / tokens_per_s


@dataclass(frozen=True)
class StreamRun:
    """One StreamingSynthesizeText call: first audio after the first token was sent, total
    seconds, server CPU seconds, the audio (float32) and its rate."""

    first_chunk_s: float
    total_s: float
    cpu_s: float
    audio: np.ndarray
    rate_hz: int
    late_s: float  # longest stall of playback that starts with the first chunk (0: none)


class ServerTextStream:
    """A real server's StreamingSynthesizeText; the text whole, or token by token at a pace."""

    def __init__(self, channel: grpc.Channel, server_pid: int, tokens_per_s: float | None,
                 name: str) -> None:
        self._stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        self._pid = server_pid
        self._tokens_per_s = tokens_per_s
        self.name = name

    def run(self, text: str) -> StreamRun:
        config = synthesizer_pb2.SynthesisConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                                 sentence_silence_ms=0)
        started = threading.Event()
        clock: list[float] = []

        def pieces() -> Iterator[str]:
            for index, token in enumerate(tokens(text) if self._tokens_per_s else [text]):
                if index and self._tokens_per_s:
                    time.sleep(1 / self._tokens_per_s)
                if not started.is_set():
                    clock.append(time.perf_counter())
                    started.set()
                yield token

        cpu_started = cpu_seconds(self._pid)
        chunks: list[bytes] = []
        first_chunk_s, rate_hz = 0.0, 0
        late_s = 0.0
        for response in self._stub.StreamingSynthesizeText(text_requests(config, pieces())):
            arrived_s = time.perf_counter() - clock[0]
            if response.audio_content and not first_chunk_s:
                first_chunk_s = arrived_s
            # a player that starts at the first chunk needs this one at its offset (stalls
            # before it push the schedule back)
            due_s = first_chunk_s + late_s + response.start_offset_ms / 1000
            late_s += max(0.0, arrived_s - due_s) if response.audio_content else 0.0
            chunks.append(response.audio_content)
            rate_hz = response.sample_rate_hz
        total_s, cpu_s = time.perf_counter() - clock[0], cpu_seconds(self._pid) - cpu_started
        audio = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
        return StreamRun(first_chunk_s, total_s, cpu_s, audio, rate_hz, late_s)
