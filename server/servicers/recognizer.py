"""RecognizerServicer: Recognize and StreamingRecognize, translated to the engines."""

from __future__ import annotations

import math

import grpc

from voxserve.server.admission import Admission
from voxserve.server.asr.types import TranscribeOptions, Transcript
from voxserve.server.audio.decode import decode_recording
from voxserve.server.config import ServerConfig
from voxserve.server.errors import LimitExceeded
from voxserve.server.inference import InferencePool
from voxserve.server.state import ServerState
from voxserve.server.status import rpc
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

ENCODINGS = {
    audio_pb2.AUDIO_ENCODING_UNSPECIFIED: "unspecified",
    audio_pb2.AUDIO_ENCODING_LINEAR16: "linear16",
    audio_pb2.AUDIO_ENCODING_MULAW: "mulaw",
    audio_pb2.AUDIO_ENCODING_WAV: "wav",
    audio_pb2.AUDIO_ENCODING_FLAC: "flac",
}


def encoding_name(encoding: int) -> str:
    # Unknown enum numbers (a newer client) fall through to the decoder's own error.
    return ENCODINGS.get(encoding, f"unknown encoding {encoding}")


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def transcribe_options(config: recognizer_pb2.RecognitionConfig) -> TranscribeOptions:
    return TranscribeOptions(
        language=config.language_code or None, word_timestamps=config.enable_word_time_offsets
    )


def words_pb(segment_words: tuple, offset_s: float = 0.0) -> list[recognizer_pb2.WordInfo]:
    return [
        recognizer_pb2.WordInfo(
            word=w.word.strip(), start_offset_ms=ms(offset_s + w.start_s),
            end_offset_ms=ms(offset_s + w.end_s), probability=w.probability,
        )
        for w in segment_words
    ]


def recognize_response(transcript: Transcript, model: str) -> recognizer_pb2.RecognizeResponse:
    results = [
        recognizer_pb2.SpeechRecognitionResult(
            transcript=segment.text.strip(),
            start_offset_ms=ms(segment.start_s),
            end_offset_ms=ms(segment.end_s),
            confidence=min(1.0, math.exp(segment.avg_logprob)),
            words=words_pb(segment.words),
        )
        for segment in transcript.segments
        if segment.text.strip()
    ]
    return recognizer_pb2.RecognizeResponse(
        results=results,
        transcript=transcript.text,
        audio_duration_ms=ms(transcript.duration_s),
        language_code=transcript.language,
        model=model,
    )


class RecognizerServicer(recognizer_pb2_grpc.RecognizerServicer):
    def __init__(self, state: ServerState, pool: InferencePool, config: ServerConfig,
                 admission: Admission) -> None:
        self._state = state
        self._pool = pool
        self._config = config
        self._admission = admission

    @rpc
    async def Recognize(
        self, request: recognizer_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> recognizer_pb2.RecognizeResponse:
        config = request.config
        if len(request.audio) > self._config.max_audio_bytes:
            raise LimitExceeded(
                f"audio is {len(request.audio)} bytes; the limit is {self._config.max_audio_bytes}"
                " bytes (--max-audio-bytes); stream longer recordings with StreamingRecognize"
            )
        recognizer = self._state.repository.recognizer(config.model)
        options = transcribe_options(config)
        with self._admission.slot():
            audio = await self._pool.run(
                decode_recording, request.audio, encoding_name(config.encoding),
                config.sample_rate_hz, config.audio_channel_count,
                max_duration_s=self._config.max_stream_duration_s,
            )
            transcript = await self._pool.run(recognizer.transcribe, audio.samples, options)
        return recognize_response(transcript, recognizer.info.name)
