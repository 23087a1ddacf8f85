"""SynthesizerServicer: Synthesize, StreamingSynthesize and StreamingSynthesizeText, translated
to the voice engines (the text stream's state lives in text_stream.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc
import numpy as np

from voxserve.server import metrics
from voxserve.server.audio.encode import bytes_per_sample, check_output, encode, wav_from_pcm16
from voxserve.server.audio.resample import resample
from voxserve.server.engines import Voice
from voxserve.server.errors import InvalidArgument, LimitExceeded
from voxserve.server.servicers.opening import first_message
from voxserve.server.servicers.serving import ModelServicer
from voxserve.server.servicers.status_mapping import rpc
from voxserve.server.servicers.text_stream import Output, TextStream
from voxserve.server.tts.types import SentenceAudio, SynthesisOptions
from voxserve.v1 import audio_pb2, synthesizer_pb2, synthesizer_pb2_grpc

ENCODINGS = {
    audio_pb2.AUDIO_ENCODING_UNSPECIFIED: "linear16",
    audio_pb2.AUDIO_ENCODING_LINEAR16: "linear16",
    audio_pb2.AUDIO_ENCODING_MULAW: "mulaw",
    audio_pb2.AUDIO_ENCODING_ALAW: "alaw",
}
# The encoder's output names -> (sample codec, container) on the wire.
WIRE_FORMATS = {
    "linear16": (audio_pb2.AUDIO_ENCODING_LINEAR16, audio_pb2.AUDIO_CONTAINER_UNSPECIFIED),
    "mulaw": (audio_pb2.AUDIO_ENCODING_MULAW, audio_pb2.AUDIO_CONTAINER_UNSPECIFIED),
    "alaw": (audio_pb2.AUDIO_ENCODING_ALAW, audio_pb2.AUDIO_CONTAINER_UNSPECIFIED),
    "wav": (audio_pb2.AUDIO_ENCODING_LINEAR16, audio_pb2.AUDIO_CONTAINER_WAV),
}
DEFAULT_SENTENCE_SILENCE_MS = 200


def check_text(text: str, limit_bytes: int, flag: str) -> None:
    """Checked before any work: size first (cheap), then that something is there."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > limit_bytes:
        raise InvalidArgument(
            f"text is {size} bytes; the limit is {limit_bytes} bytes ({flag})"
            + ("; send longer texts to StreamingSynthesize" if flag == "--max-text-bytes" else ""),
            field="text",
        )
    if not text.strip():
        raise InvalidArgument("text is empty", field="text")


def output_encoding(config: synthesizer_pb2.SynthesisConfig, streaming: bool) -> str:
    """The encoder's name for the requested codec and container ("linear16", "wav", ...)."""
    name = ENCODINGS.get(config.encoding)
    if name is None:
        raise InvalidArgument(
            f"config.encoding {config.encoding} is unknown; use LINEAR16, MULAW or ALAW",
            field="config.encoding",
        )
    if config.container == audio_pb2.AUDIO_CONTAINER_UNSPECIFIED:
        return name
    if config.container != audio_pb2.AUDIO_CONTAINER_WAV:
        raise InvalidArgument(f"config.container {config.container} is unknown; use WAV or unset",
                              field="config.container")
    if streaming:
        raise InvalidArgument(
            "config.container WAV is for Synthesize; StreamingSynthesize sends raw samples",
            field="config.container",
        )
    if name != "linear16":
        raise InvalidArgument(
            "config.container WAV holds LINEAR16 samples; leave config.encoding unset or LINEAR16",
            field="config.encoding",
        )
    return "wav"


def synthesis_options(config: synthesizer_pb2.SynthesisConfig, default_length_scale: float
                      ) -> SynthesisOptions:
    rate = config.speaking_rate if config.HasField("speaking_rate") else 1.0
    if not 0.25 <= rate <= 4.0:
        raise InvalidArgument(f"speaking_rate {config.speaking_rate} is out of range 0.25..4.0",
                              field="config.speaking_rate")
    silence_ms = (config.sentence_silence_ms if config.HasField("sentence_silence_ms")
                  else DEFAULT_SENTENCE_SILENCE_MS)
    if not 0 <= silence_ms <= 5000:
        raise InvalidArgument(f"sentence_silence_ms {silence_ms} is out of range 0..5000",
                              field="config.sentence_silence_ms")
    return SynthesisOptions(
        speaker_id=config.speaker_id if config.HasField("speaker_id") else None,
        length_scale=default_length_scale / rate,
        noise_scale=config.noise_scale if config.HasField("noise_scale") else None,
        noise_w=config.noise_w if config.HasField("noise_w") else None,
        sentence_silence_s=silence_ms / 1000.0,
        seed=config.seed if config.HasField("seed") else None,
    )


class SynthesizerServicer(ModelServicer, synthesizer_pb2_grpc.SynthesizerServicer):
    @rpc
    async def Synthesize(
        self, request: synthesizer_pb2.SynthesizeRequest, context: grpc.aio.ServicerContext
    ) -> synthesizer_pb2.SynthesizeResponse:
        check_text(request.text, self._config.max_text_bytes, "--max-text-bytes")
        voice, encoding, rate_hz, options = self._prepare(request.config, streaming=False)
        width = bytes_per_sample(encoding)
        with self._admission.slot():
            shortest_s = await self._pool.run(voice.shortest_duration_s, request.text, options)
            self._check_response_size(int(shortest_s * rate_hz) * width, "at least ")
            # Sentence by sentence, like the stream: each model run holds one sentence's
            # tensors, a cancelled call stops at the next sentence, and the response keeps only
            # encoded bytes (half of float32, a quarter with mu-law).
            chunks: list[bytes] = []
            size = 0
            async for _, samples in self._rendered(voice, request.text, options, rate_hz):
                size += samples.size * width
                self._check_response_size(size, "more than ")
                chunks.append(encode(samples, "linear16" if encoding == "wav" else encoding,
                                     rate_hz))
        audio = b"".join(chunks)
        del chunks
        codec, container = WIRE_FORMATS[encoding]
        return synthesizer_pb2.SynthesizeResponse(
            audio_content=wav_from_pcm16(audio, rate_hz) if encoding == "wav" else audio,
            sample_rate_hz=rate_hz,
            encoding=codec,
            audio_duration_ms=round(1000 * size / width / rate_hz),
            voice=voice.info.name,
            container=container,
            language_code=voice.info.language_codes[0],
        )

    def _check_response_size(self, size: int, bound: str) -> None:
        if size > self._config.max_synthesis_bytes:
            raise LimitExceeded(
                f"synthesized audio would be {bound}{size} bytes; the response limit is "
                f"{self._config.max_synthesis_bytes} bytes (--max-synthesis-bytes): use "
                "StreamingSynthesize for long texts"
            )

    @rpc
    async def StreamingSynthesize(
        self, request: synthesizer_pb2.StreamingSynthesizeRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[synthesizer_pb2.StreamingSynthesizeResponse]:
        check_text(request.text, self._config.max_streaming_text_bytes,
                   "--max-streaming-text-bytes")
        voice, encoding, rate_hz, options = self._prepare(request.config, streaming=True)
        with self._admission.slot():
            offset_samples = 0
            async for spoken, samples in self._rendered(voice, request.text, options, rate_hz):
                yield synthesizer_pb2.StreamingSynthesizeResponse(
                    audio_content=encode(samples, encoding, rate_hz),
                    sample_rate_hz=rate_hz,
                    encoding=WIRE_FORMATS[encoding][0],
                    language_code=voice.info.language_codes[0],
                    offset_ms=round(1000 * offset_samples / rate_hz),
                    audio_duration_ms=round(1000 * samples.size / rate_hz),
                    sentence_index=spoken.index,
                    text=spoken.text.strip(),
                )
                offset_samples += samples.size

    @rpc
    async def StreamingSynthesizeText(
        self, requests: AsyncIterator[synthesizer_pb2.StreamingSynthesizeTextRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[synthesizer_pb2.StreamingSynthesizeTextResponse]:
        config: synthesizer_pb2.SynthesisConfig = await first_message(
            requests, self._config.first_message_timeout_s, "config", stream="text stream")
        voice, encoding, rate_hz, options = self._prepare(config, streaming=True)
        if not voice.streams:
            raise InvalidArgument(
                f"voice {voice.info.name!r} was imported without its streaming graphs "
                "(encoder.onnx, flow.onnx, vocoder.onnx): import it again with "
                "`voxserve export piper-voice`",
                field="config.voice",
            )
        output = Output(encoding, WIRE_FORMATS[encoding][0], rate_hz, voice.info.language_codes[0])
        with self._admission.slot():
            stream = TextStream(voice, options, output, self._pool,
                                self._config.max_streaming_text_bytes)
            async for response in stream.responses(requests):
                yield response

    async def _rendered(self, voice: Voice, text: str, options: SynthesisOptions,
                        rate_hz: int) -> AsyncIterator[tuple[SentenceAudio, np.ndarray]]:
        """Each sentence's audio at `rate_hz`, one pool job per sentence: a cancelled call's
        work stops at the sentence running when it went (the pool waits for that one)."""
        sentences = await self._pool.run(voice.sentences, text)
        if not sentences:
            raise InvalidArgument("text contains nothing to speak", field="text")
        for index, sentence in enumerate(sentences):
            started_s = time.perf_counter()
            spoken = await self._pool.run(voice.synthesize_sentence, index, sentence, options)
            samples = await self._pool.run(resample, spoken.audio, voice.info.sample_rate_hz,
                                           rate_hz)
            metrics.observe_real_time_factor(
                "synthesis", time.perf_counter() - started_s, samples.size / rate_hz
            )
            yield spoken, samples

    def _prepare(self, config: synthesizer_pb2.SynthesisConfig, streaming: bool
                 ) -> tuple[Voice, str, int, SynthesisOptions]:
        voice = self._state.repository.voice(config.voice, config.language_code.strip())
        encoding = output_encoding(config, streaming)
        rate_hz = (config.sample_rate_hz if config.HasField("sample_rate_hz")
                   else voice.info.sample_rate_hz)
        check_output(encoding, rate_hz)
        options = synthesis_options(config, voice.default_length_scale)
        return voice, encoding, rate_hz, options
