"""VoxClient: the blocking Python client for recognition, synthesis and the model list."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeAlias, TypeVar

import grpc

from voxserve.client.connection import ConnectionOptions, open_channel
from voxserve.client.retry import Replicas, RetryPolicy, call_with_retry
from voxserve.client.streaming import Chunk, StreamingRecognizer, StreamSettings
from voxserve.v1 import (
    audio_pb2,
    classifier_pb2,
    classifier_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    recognizer_pb2,
    recognizer_pb2_grpc,
    synthesizer_pb2,
    synthesizer_pb2_grpc,
)

T = TypeVar("T")
Response_co = TypeVar("Response_co", covariant=True)


class ResponseCall(Protocol[Response_co]):
    """A response-streaming call as grpc returns it: iterate it for the responses, cancel() it
    to stop at once."""

    def __iter__(self) -> Iterator[Response_co]: ...

    def cancel(self) -> bool: ...


@dataclass(frozen=True)
class Connection:
    """One channel to one server and the stubs on it."""

    target: str
    channel: grpc.Channel
    recognizer: recognizer_pb2_grpc.RecognizerStub
    synthesizer: synthesizer_pb2_grpc.SynthesizerStub
    models: models_pb2_grpc.ModelsStub
    classifier: classifier_pb2_grpc.ClassifierStub


def connect(options: ConnectionOptions, target: str) -> Connection:
    channel = open_channel(options, target)
    return Connection(target, channel, recognizer_pb2_grpc.RecognizerStub(channel),
                      synthesizer_pb2_grpc.SynthesizerStub(channel),
                      models_pb2_grpc.ModelsStub(channel),
                      classifier_pb2_grpc.ClassifierStub(channel))


class VoxClient:
    """Connections to a server (or several replicas); thread-safe, reuse it.

    Calls refused at capacity or by a draining or lost server are retried per `retry` on the
    next target over a fresh connection. Use as a context manager to close.
    """

    def __init__(self, options: ConnectionOptions | str = "localhost:50051",
                 retry: RetryPolicy | None = None) -> None:
        self.options = ConnectionOptions(options) if isinstance(options, str) else options
        self.retry = retry or RetryPolicy()
        self.replicas: Replicas[Connection] = Replicas(
            self.options.targets, lambda target: connect(self.options, target),
            lambda connection: connection.channel.close(),
        )

    def __enter__(self) -> VoxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.replicas.close()

    @property
    def connection(self) -> Connection:
        """The connection the next call starts on."""
        return self.replicas.lease().connection

    @property
    def channel(self) -> grpc.Channel:
        return self.connection.channel

    @property
    def recognizer(self) -> recognizer_pb2_grpc.RecognizerStub:
        return self.connection.recognizer

    @property
    def synthesizer(self) -> synthesizer_pb2_grpc.SynthesizerStub:
        return self.connection.synthesizer

    @property
    def models(self) -> models_pb2_grpc.ModelsStub:
        return self.connection.models

    def call(self, attempt: Callable[[Connection, float | None], T],
             timeout_s: float | None = None) -> T:
        """Run `attempt(connection, timeout_s_left)` with this client's retries."""
        return call_with_retry(self.replicas, self.retry, attempt, timeout_s)

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)

    def list_models(
        self, kind: models_pb2.ModelKind = models_pb2.MODEL_KIND_UNSPECIFIED
    ) -> list[models_pb2.ModelInfo]:
        request = models_pb2.ListModelsRequest(kind=kind)
        response = self.call(lambda c, t: c.models.ListModels(
            request, timeout=t, metadata=self.options.metadata()))
        return list(response.models)

    def recognize(
        self,
        audio: bytes,
        config: recognizer_pb2.RecognitionConfig | None = None,
        timeout_s: float | None = None,
    ) -> recognizer_pb2.RecognizeResponse:
        """Transcribe a whole recording (a WAV/FLAC file's bytes, or raw audio per `config`)."""
        request = recognizer_pb2.RecognizeRequest(config=config, audio_content=audio)
        return self.call(lambda c, t: c.recognizer.Recognize(
            request, timeout=t, metadata=self.options.metadata()), timeout_s)

    def classify_language(
        self,
        audio: bytes,
        config: classifier_pb2.LanguageClassificationConfig | None = None,
        timeout_s: float | None = None,
    ) -> classifier_pb2.ClassifyLanguageResponse:
        """The spoken language of a recording (WAV/FLAC bytes, or raw audio per `config`),
        the most probable first."""
        request = classifier_pb2.ClassifyLanguageRequest(config=config, audio_content=audio)
        return self.call(lambda c, t: c.classifier.ClassifyLanguage(
            request, timeout=t, metadata=self.options.metadata()), timeout_s)

    def stream(
        self,
        config: StreamSettings | recognizer_pb2.StreamingRecognitionConfig,
        audio: Iterable[Chunk] | None = None,
        timeout_s: float | None = None,
    ) -> StreamingRecognizer:
        """A live recognition call: iterate over its responses while it reads `audio`, or feed
        it with send() and close(). Not retried: audio already sent cannot be sent again."""
        return StreamingRecognizer(self.recognizer, config, audio=audio,
                                   metadata=self.options.metadata(), timeout_s=timeout_s)

    def synthesize(
        self,
        text: str,
        config: synthesizer_pb2.SynthesisConfig | None = None,
        timeout_s: float | None = None,
    ) -> synthesizer_pb2.SynthesizeResponse:
        request = synthesizer_pb2.SynthesizeRequest(text=text, config=config)
        return self.call(lambda c, t: c.synthesizer.Synthesize(
            request, timeout=t, metadata=self.options.metadata()), timeout_s)

    def speak(
        self, pieces: Iterable[TextPiece], config: synthesizer_pb2.SynthesisConfig | None = None,
        timeout_s: float | None = None,
    ) -> ResponseCall[synthesizer_pb2.StreamingSynthesizeTextResponse]:
        """A StreamingSynthesizeText call: `pieces` (text as it is written, FLUSH, CLEAR) is
        read while audio comes back; iterate over the returned call for the responses, cancel()
        it to stop at once. Not retried: text already spoken cannot be taken back."""
        return self.synthesizer.StreamingSynthesizeText(
            text_requests(config, pieces), timeout=timeout_s, metadata=self.options.metadata())

    def stream_synthesize(
        self, text: str, config: synthesizer_pb2.SynthesisConfig | None = None
    ) -> Iterator[synthesizer_pb2.StreamingSynthesizeResponse]:
        """Audio sentence by sentence. A refusal before the first chunk is retried; an error
        after it is raised (the audio already played cannot be taken back)."""
        request = synthesizer_pb2.StreamingSynthesizeRequest(text=text, config=config)
        first, rest = self.call(lambda c, t: _first_and_rest(c.synthesizer.StreamingSynthesize(
            request, timeout=t, metadata=self.options.metadata())))
        if first is not None:
            yield first
            yield from rest


TextPiece: TypeAlias = "str | synthesizer_pb2.StreamingSynthesizeTextRequest"


def text_requests(config: synthesizer_pb2.SynthesisConfig | None, pieces: Iterable[TextPiece]
                  ) -> Iterator[synthesizer_pb2.StreamingSynthesizeTextRequest]:
    """A text stream's requests: the config, then each piece (a string is a text piece; FLUSH,
    CLEAR or any request message goes as it is)."""
    request = synthesizer_pb2.StreamingSynthesizeTextRequest
    yield request(config=config or synthesizer_pb2.SynthesisConfig())
    for piece in pieces:
        yield request(text=piece) if isinstance(piece, str) else piece


FLUSH = synthesizer_pb2.StreamingSynthesizeTextRequest(
    flush=synthesizer_pb2.StreamingSynthesizeTextRequest.TextFlush())
CLEAR = synthesizer_pb2.StreamingSynthesizeTextRequest(
    clear=synthesizer_pb2.StreamingSynthesizeTextRequest.TextClear())


def _first_and_rest(responses: Iterator[T]) -> tuple[T | None, Iterator[T]]:
    """Wait for a stream's first message, so errors before it surface inside the retry."""
    for first in responses:
        return first, responses
    return None, responses


LINEAR16 = audio_pb2.AUDIO_ENCODING_LINEAR16
MULAW = audio_pb2.AUDIO_ENCODING_MULAW
ALAW = audio_pb2.AUDIO_ENCODING_ALAW
WAV = audio_pb2.AUDIO_CONTAINER_WAV
