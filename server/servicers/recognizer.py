"""RecognizerServicer: Recognize and StreamingRecognize, translated to the engines."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
import numpy as np

from voxserve.server.admission import Admission
from voxserve.server.asr.types import TranscribeOptions, Transcript, Word
from voxserve.server.audio.decode import Audio, decode_recording
from voxserve.server.config import ServerConfig
from voxserve.server.engines import Recognizer
from voxserve.server.errors import (
    HandedOver,
    InvalidArgument,
    LimitExceeded,
    ModelLoadError,
    Unavailable,
)
from voxserve.server.inference import InferencePool
from voxserve.server.language import primary_subtag
from voxserve.server.servicers.opening import first_message
from voxserve.server.servicers.serving import ModelServicer
from voxserve.server.servicers.status_mapping import rpc
from voxserve.server.state import ServerState
from voxserve.server.streaming.eagerness import Eagerness
from voxserve.server.streaming.endpointer import SpeechEnded, SpeechStarted
from voxserve.server.streaming.live import (
    Chunk,
    Finalize,
    InterimBudget,
    LiveStream,
    Outcome,
    StreamLimits,
)
from voxserve.server.streaming.session import (
    EndOfSingleUtterance,
    StreamOptions,
    StreamResult,
    StreamSession,
)
from voxserve.server.streaming.settings import Detector
from voxserve.server.streaming.vad import SileroModel
from voxserve.v1 import audio_pb2, classifier_pb2, recognizer_pb2, recognizer_pb2_grpc

ENCODINGS = {
    audio_pb2.AUDIO_ENCODING_UNSPECIFIED: "unspecified",
    audio_pb2.AUDIO_ENCODING_LINEAR16: "linear16",
    audio_pb2.AUDIO_ENCODING_MULAW: "mulaw",
    audio_pb2.AUDIO_ENCODING_ALAW: "alaw",
}
DETECTORS = {
    recognizer_pb2.VOICE_ACTIVITY_DETECTOR_WEBRTC: Detector.WEBRTC,
    recognizer_pb2.VOICE_ACTIVITY_DETECTOR_SILERO: Detector.SILERO,
}
EAGERNESS = {
    recognizer_pb2.ENDPOINT_EAGERNESS_UNSPECIFIED: Eagerness.BALANCED,
    recognizer_pb2.ENDPOINT_EAGERNESS_LOW: Eagerness.LOW,
    recognizer_pb2.ENDPOINT_EAGERNESS_BALANCED: Eagerness.BALANCED,
    recognizer_pb2.ENDPOINT_EAGERNESS_HIGH: Eagerness.HIGH,
}
SPEECH_EVENTS = {
    SpeechStarted: recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED,
    SpeechEnded: recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED,
    EndOfSingleUtterance: recognizer_pb2.SPEECH_EVENT_TYPE_END_OF_SINGLE_UTTERANCE,
}
# Configs that say how to read a recording (encoding, sample_rate_hz, audio_channel_count).
AudioConfig: TypeAlias = (
    recognizer_pb2.RecognitionConfig | classifier_pb2.LanguageClassificationConfig
)
# Trailers of a stream handed over at drain: where its client resumes (docs/clients.md).
RESUME_OFFSET_KEY = "x-voxserve-resume-offset-ms"
RESUME_UTTERANCE_KEY = "x-voxserve-resume-utterance-index"
# Transcribing no audio checks the options (the language) without running the model.
NO_AUDIO = np.zeros(0, dtype=np.float32)

log = logging.getLogger("voxserve.recognizer")


def encoding_name(encoding: audio_pb2.AudioEncoding) -> str:
    try:
        return ENCODINGS[encoding]
    except KeyError:  # a number this server does not know (a newer client's)
        raise InvalidArgument(
            f"config.encoding {encoding} is unknown; use LINEAR16, MULAW or ALAW, or leave it"
            " unset for a WAV or FLAC file"
        ) from None


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def sample_rate_hz(config: AudioConfig) -> int:
    """The declared rate; 0 (unset) lets a file's header say. A set value must be a rate."""
    if not config.HasField("sample_rate_hz"):
        return 0
    if config.sample_rate_hz <= 0:
        raise InvalidArgument(
            f"config.sample_rate_hz must be 8000 to 48000, not {config.sample_rate_hz}"
        )
    return config.sample_rate_hz


def channel_count(config: AudioConfig) -> int:
    """The declared channel count; 0 (unset) means 1 for raw audio, the header's for files."""
    if not config.HasField("audio_channel_count"):
        return 0
    if config.audio_channel_count <= 0:
        raise InvalidArgument(
            f"config.audio_channel_count must be 1 to 8, not {config.audio_channel_count}"
        )
    return config.audio_channel_count


def requested_languages(config: recognizer_pb2.RecognitionConfig) -> tuple[str, ...]:
    """The languages a request names (its language, else its candidates): they choose the
    recognizer when the request names no model."""
    if config.language_code.strip():
        return (config.language_code,)
    return tuple(config.language_codes)


def transcribe_options(config: recognizer_pb2.RecognitionConfig) -> TranscribeOptions:
    return TranscribeOptions(
        language=(primary_subtag(config.language_code, "config.language_code")
                  if config.language_code.strip() else None),
        word_timestamps=config.enable_word_time_offsets,
        language_codes=candidate_languages(config.language_codes),
        translate=config.translate_to_english,
    )


def candidate_languages(tags: Sequence[str]) -> tuple[str, ...]:
    """A request's candidate languages (`config.language_codes`) as primary subtags."""
    return tuple(primary_subtag(tag, "config.language_codes") for tag in tags)


def check_audio_size(audio_content: bytes, limit_bytes: int, hint: str = "") -> None:
    """LimitExceeded when a recording is over --max-audio-bytes, before any work."""
    if len(audio_content) > limit_bytes:
        raise LimitExceeded(f"audio_content is {len(audio_content)} bytes; the limit is"
                            f" {limit_bytes} bytes (--max-audio-bytes){hint}")


async def decode_request_audio(pool: InferencePool, config: AudioConfig, audio_content: bytes,
                               max_duration_s: float) -> Audio:
    """A unary request's recording decoded on the pool, as its config declares it."""
    return await pool.run(
        decode_recording, audio_content, encoding_name(config.encoding),
        sample_rate_hz(config), channel_count(config), max_duration_s=max_duration_s,
    )


def words_pb(segment_words: tuple[Word, ...], offset_s: float = 0.0
             ) -> list[recognizer_pb2.WordInfo]:
    return [
        recognizer_pb2.WordInfo(
            word=w.word.strip(), start_offset_ms=ms(offset_s + w.start_s),
            end_offset_ms=ms(offset_s + w.end_s), confidence=w.probability,
        )
        for w in segment_words
    ]


def recognize_response(transcript: Transcript, model: str) -> recognizer_pb2.RecognizeResponse:
    results = [
        recognizer_pb2.SpeechRecognitionResult(
            transcript=segment.text.strip(),
            start_offset_ms=ms(segment.start_s),
            end_offset_ms=ms(segment.end_s),
            confidence=segment.confidence,
            words=words_pb(segment.words),
            language_code=segment.language,
            language_probability=segment.language_probability,
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
        language_probability=transcript.language_probability,
    )


def stream_options(streaming: recognizer_pb2.StreamingRecognitionConfig,
                   server: ServerConfig) -> StreamOptions:
    """A stream's settings: the client's, with unset fields taken from the server."""
    config, endpointing = streaming.config, streaming.endpointing
    server_side = server.endpointing
    return StreamOptions(
        encoding=encoding_name(config.encoding),
        sample_rate_hz=sample_rate_hz(config),
        channels=channel_count(config) or 1,
        interim_results=streaming.interim_results,
        interim_interval_ms=_or(streaming, "interim_interval_ms", server.interim_interval_ms),
        single_utterance=streaming.single_utterance,
        eagerness=eagerness_of(endpointing.eagerness),
        endpointing=dataclasses.replace(
            server_side,
            detector=detector_of(endpointing.detector, server_side.detector),
            vad_aggressiveness=_or(endpointing, "vad_aggressiveness",
                                   server_side.vad_aggressiveness),
            min_silence_ms=_or(endpointing, "min_silence_ms", server_side.min_silence_ms),
            speech_pad_ms=_or(endpointing, "speech_pad_ms", server_side.speech_pad_ms),
            max_utterance_ms=_or(endpointing, "max_utterance_ms", server_side.max_utterance_ms),
            min_speech_ms=_or(endpointing, "min_speech_ms", server_side.min_speech_ms),
        ),
        transcribe=transcribe_options(config),
    )


def _or(message: Any, name: str, default: int) -> int:
    """An optional field's value when set, else the default (explicit presence, docs/api.md)."""
    return int(getattr(message, name)) if message.HasField(name) else default


def eagerness_of(eagerness: recognizer_pb2.EndpointEagerness) -> Eagerness:
    try:
        return EAGERNESS[eagerness]
    except KeyError:
        raise InvalidArgument(
            f"endpointing.eagerness {eagerness} is unknown; use LOW, BALANCED or HIGH",
            field="streaming_config.endpointing.eagerness",
        ) from None


def detector_of(
    detector: recognizer_pb2.VoiceActivityDetector, server_default: Detector
) -> Detector:
    if detector == recognizer_pb2.VOICE_ACTIVITY_DETECTOR_UNSPECIFIED:
        return server_default
    try:
        return DETECTORS[detector]
    except KeyError:
        raise InvalidArgument(
            f"endpointing.detector {detector} is unknown; use WEBRTC or SILERO",
            field="streaming_config.endpointing.detector",
        ) from None


async def audio_chunks(
    requests: AsyncIterator[recognizer_pb2.StreamingRecognizeRequest], max_bytes: int
) -> AsyncIterator[Chunk]:
    """The audio of the messages after the config, each checked against the size limit, and
    a Finalize for each finalize_utterance message."""
    async for request in requests:
        kind = request.WhichOneof("streaming_request")
        if kind == "streaming_config":
            raise InvalidArgument("streaming_config may only be the first message of a stream",
                                  field="streaming_config")
        if kind == "finalize_utterance":
            yield Finalize()
            continue
        audio = request.audio_content
        if len(audio) > max_bytes:
            raise LimitExceeded(
                f"an audio message is {len(audio)} bytes; the limit is {max_bytes} bytes"
                " (--max-message-audio-bytes): send smaller chunks, about 100 ms each"
            )
        if audio:
            yield audio


@dataclass(frozen=True)
class ResumePoint:
    """Where a stream's audio starts in its dictation (StreamingRecognitionConfig.resume_*):
    every offset and utterance index the stream reports is shifted by it."""

    offset_ms: int = 0
    utterance_index: int = 0

    @classmethod
    def of(cls, streaming: recognizer_pb2.StreamingRecognitionConfig) -> ResumePoint:
        offset_ms = _or(streaming, "resume_offset_ms", 0)
        if offset_ms < 0:
            raise InvalidArgument(
                f"streaming_config.resume_offset_ms must be 0 or more, not {offset_ms}")
        return cls(offset_ms, _or(streaming, "resume_utterance_index", 0))

    def trailers(self, handed_over: HandedOver) -> tuple[tuple[str, str], ...]:
        """Where the client resumes after `handed_over`, in the dictation's terms."""
        return (
            (RESUME_OFFSET_KEY, str(self.offset_ms + ms(handed_over.resume_offset_s))),
            (RESUME_UTTERANCE_KEY,
             str(self.utterance_index + handed_over.next_utterance_index)),
        )


def streaming_response(outcome: Outcome, resume: ResumePoint = ResumePoint()
                       ) -> recognizer_pb2.StreamingRecognizeResponse:
    if isinstance(outcome, StreamResult):
        return recognizer_pb2.StreamingRecognizeResponse(
            result=streaming_result(outcome, resume))
    return recognizer_pb2.StreamingRecognizeResponse(
        speech_event=recognizer_pb2.SpeechEvent(
            type=SPEECH_EVENTS[type(outcome)],
            offset_ms=resume.offset_ms + ms(outcome.offset_s),
            utterance_index=resume.utterance_index + outcome.utterance_index,
        )
    )


def streaming_result(result: StreamResult, resume: ResumePoint = ResumePoint()
                     ) -> recognizer_pb2.StreamingRecognitionResult:
    return recognizer_pb2.StreamingRecognitionResult(
        transcript=result.text.strip(),
        is_final=result.is_final,
        stability=result.stability,
        utterance_index=resume.utterance_index + result.utterance_index,
        start_offset_ms=resume.offset_ms + ms(result.start_s),
        end_offset_ms=resume.offset_ms + ms(result.end_s),
        confidence=result.confidence,
        words=[_shifted(word, resume.offset_ms) for word in words_pb(result.words)],
        language_code=result.language,
        language_probability=result.language_probability,
        committed_transcript=result.committed_text,
        tentative_transcript=result.tentative_text,
        latency_ms=ms(result.latency_s) if result.is_final else 0,
    )


def _shifted(word: recognizer_pb2.WordInfo, offset_ms: int) -> recognizer_pb2.WordInfo:
    word.start_offset_ms += offset_ms
    word.end_offset_ms += offset_ms
    return word


class RecognizerServicer(ModelServicer, recognizer_pb2_grpc.RecognizerServicer):
    def __init__(self, state: ServerState, pool: InferencePool, config: ServerConfig,
                 admission: Admission) -> None:
        super().__init__(state, pool, config, admission)
        self._interim_budget = InterimBudget.for_pool(pool)
        # At drain an open utterance gets half the grace to end, the rest is for its final.
        self._limits = StreamLimits(config.stream_idle_timeout_s, config.max_stream_duration_s,
                                    config.speech_idle_timeout_s, config.grace_s / 2)

    @rpc
    async def Recognize(
        self, request: recognizer_pb2.RecognizeRequest, context: grpc.aio.ServicerContext
    ) -> recognizer_pb2.RecognizeResponse:
        config = request.config
        check_audio_size(request.audio_content, self._config.max_audio_bytes,
                         "; stream longer recordings with StreamingRecognize")
        recognizer = self._state.repository.recognizer(config.model, requested_languages(config))
        options = transcribe_options(config)
        with self._admission.slot():
            audio = await decode_request_audio(self._pool, config, request.audio_content,
                                               self._config.max_stream_duration_s)
            transcript = await self._pool.run_stoppable(
                lambda stop: recognizer.transcribe(audio.samples, options, stop))
        return recognize_response(transcript, recognizer.info.name)

    @rpc
    async def StreamingRecognize(
        self,
        requests: AsyncIterator[recognizer_pb2.StreamingRecognizeRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[recognizer_pb2.StreamingRecognizeResponse]:
        with self._admission.slot():  # held for the stream's whole life
            requests = aiter(requests)
            streaming: recognizer_pb2.StreamingRecognitionConfig = await first_message(
                requests, self._config.first_message_timeout_s, "streaming_config",
                then="; audio_content follows it")
            session = await self._open_session(streaming)
            chunks = audio_chunks(requests, self._config.max_message_audio_bytes)
            resume = ResumePoint.of(streaming)
            stream = LiveStream(session, chunks, self._pool, self._interim_budget, self._limits,
                                self._state.draining)
            try:
                async with contextlib.aclosing(stream.outcomes()) as outcomes:
                    async for outcome in outcomes:
                        yield streaming_response(outcome, resume)
            except HandedOver as handed_over:
                raise Unavailable(
                    f"server is shutting down; resume the stream on another replica from"
                    f" {resume.offset_ms + ms(handed_over.resume_offset_s)} ms, utterance"
                    f" {resume.utterance_index + handed_over.next_utterance_index}",
                    resume=resume.trailers(handed_over),
                ) from None

    async def _open_session(
        self, streaming: recognizer_pb2.StreamingRecognitionConfig
    ) -> StreamSession:
        """Check the config (every refusal comes before any result) and start the session."""
        options = stream_options(streaming, self._config)
        recognizer: Recognizer = self._state.repository.recognizer(
            streaming.config.model, requested_languages(streaming.config))
        await self._pool.run(recognizer.transcribe, NO_AUDIO, options.transcribe)
        silero = None
        if options.endpointing.detector is Detector.SILERO:
            silero = await self._silero()
        return StreamSession(recognizer, options, silero=silero)

    async def _silero(self) -> SileroModel:
        """The repository's Silero VAD for a stream that asked for it; InvalidArgument when it
        cannot be had."""
        try:
            return await self._pool.run(self._state.repository.silero.get)
        except ModelLoadError as exc:
            log.error("Silero VAD cannot be loaded: %s", exc)
            raise InvalidArgument(
                "endpointing.detector SILERO is not available on this server; use WEBRTC"
            ) from exc
