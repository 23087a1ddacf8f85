"""VoxClient: the blocking Python client for recognition, synthesis and the model list."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from voxserve.client.connection import ConnectionOptions, open_channel
from voxserve.v1 import (
    audio_pb2,
    models_pb2,
    models_pb2_grpc,
    recognizer_pb2,
    recognizer_pb2_grpc,
    synthesizer_pb2,
    synthesizer_pb2_grpc,
)


class VoxClient:
    """One channel to one server; thread-safe, reuse it. Use as a context manager to close."""

    def __init__(self, options: ConnectionOptions | str = "localhost:50051") -> None:
        self.options = ConnectionOptions(options) if isinstance(options, str) else options
        self.channel = open_channel(self.options)
        self.recognizer = recognizer_pb2_grpc.RecognizerStub(self.channel)
        self.synthesizer = synthesizer_pb2_grpc.SynthesizerStub(self.channel)
        self.models = models_pb2_grpc.ModelsStub(self.channel)

    def __enter__(self) -> VoxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def wait_ready(self, timeout_s: float = 10.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout_s)

    def list_models(self, kind: int = models_pb2.MODEL_KIND_UNSPECIFIED) -> list[models_pb2.ModelInfo]:
        request = models_pb2.ListModelsRequest(kind=kind)
        return list(self.models.ListModels(request, metadata=self.options.metadata()).models)

    def recognize(
        self,
        audio: bytes,
        config: recognizer_pb2.RecognitionConfig | None = None,
        timeout_s: float | None = None,
    ) -> recognizer_pb2.RecognizeResponse:
        """Transcribe a whole recording (a WAV/FLAC file's bytes, or raw audio per `config`)."""
        request = recognizer_pb2.RecognizeRequest(config=config, audio=audio)
        return self.recognizer.Recognize(
            request, timeout=timeout_s, metadata=self.options.metadata()
        )

    def synthesize(
        self,
        text: str,
        config: synthesizer_pb2.SynthesisConfig | None = None,
        timeout_s: float | None = None,
    ) -> synthesizer_pb2.SynthesizeResponse:
        request = synthesizer_pb2.SynthesizeRequest(text=text, config=config)
        return self.synthesizer.Synthesize(
            request, timeout=timeout_s, metadata=self.options.metadata()
        )

    def stream_synthesize(
        self, text: str, config: synthesizer_pb2.SynthesisConfig | None = None
    ) -> Iterator[synthesizer_pb2.StreamingSynthesizeResponse]:
        request = synthesizer_pb2.StreamingSynthesizeRequest(text=text, config=config)
        yield from self.synthesizer.StreamingSynthesize(request, metadata=self.options.metadata())


WAV = audio_pb2.AUDIO_ENCODING_WAV
LINEAR16 = audio_pb2.AUDIO_ENCODING_LINEAR16
MULAW = audio_pb2.AUDIO_ENCODING_MULAW
