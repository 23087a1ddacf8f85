"""ModelsServicer: lists the recognizers and voices the repository holds."""

from __future__ import annotations

import grpc

from voxserve.server.asr.types import RecognizerInfo
from voxserve.server.engines import ModelInfo
from voxserve.server.errors import InvalidArgument
from voxserve.server.servicers.status_mapping import rpc
from voxserve.server.state import ServerState
from voxserve.server.tts.types import VoiceInfo
from voxserve.v1 import models_pb2, models_pb2_grpc


class ModelsServicer(models_pb2_grpc.ModelsServicer):
    def __init__(self, state: ServerState) -> None:
        self._state = state

    @rpc
    async def ListModels(
        self, request: models_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> models_pb2.ListModelsResponse:
        repo = self._state.repository
        if request.kind not in models_pb2.ModelKind.values():
            raise InvalidArgument(f"kind {request.kind} is unknown; use RECOGNIZER or VOICE")
        models = []
        if request.kind in (models_pb2.MODEL_KIND_UNSPECIFIED, models_pb2.MODEL_KIND_RECOGNIZER):
            models += [
                _model_info(engine.info, models_pb2.MODEL_KIND_RECOGNIZER, repo.families[name],
                            name == repo.default_recognizer, repo.versions.get(name, ""))
                for name, engine in sorted(repo.recognizers.items())
            ]
        if request.kind in (models_pb2.MODEL_KIND_UNSPECIFIED, models_pb2.MODEL_KIND_VOICE):
            models += [
                _model_info(engine.info, models_pb2.MODEL_KIND_VOICE, repo.families[name],
                            name == repo.default_voice, repo.versions.get(name, ""))
                for name, engine in sorted(repo.voices.items())
            ]
        return models_pb2.ListModelsResponse(models=models)


def _capabilities(info: ModelInfo) -> models_pb2.ModelCapabilities:
    if isinstance(info, RecognizerInfo):
        # Every recognizer streams and times words; multilingual Whisper weights detect the
        # language and were trained to translate into English (the .en ones neither).
        return models_pb2.ModelCapabilities(
            streaming_recognition=True, word_time_offsets=True,
            language_detection=info.multilingual, translation=info.multilingual,
        )
    speakers = info.speakers if isinstance(info, VoiceInfo) else ()
    return models_pb2.ModelCapabilities(streaming_synthesis=True,
                                        multiple_speakers=bool(speakers))


def _model_info(info: ModelInfo, kind: models_pb2.ModelKind, family: str, is_default: bool,
                version: str) -> models_pb2.ModelInfo:
    pairs = info.speakers if isinstance(info, VoiceInfo) else ()
    speakers = [models_pb2.Speaker(id=i, name=name) for i, name in pairs]
    return models_pb2.ModelInfo(
        name=info.name,
        kind=kind,
        family=family,
        language_codes=list(info.language_codes),
        sample_rate_hz=info.sample_rate_hz,
        speakers=speakers,
        is_default=is_default,
        description=info.description,
        execution_provider=info.execution_provider,
        version=version,
        capabilities=_capabilities(info),
        variant=info.variant if isinstance(info, RecognizerInfo) else "float32",
    )
