"""ModelsServicer: lists the recognizers and voices the repository holds."""

from __future__ import annotations

import grpc

from voxserve.server.engines import ModelInfo
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
        models = []
        if request.kind in (models_pb2.MODEL_KIND_UNSPECIFIED, models_pb2.MODEL_KIND_RECOGNIZER):
            models += [
                _model_info(engine.info, models_pb2.MODEL_KIND_RECOGNIZER, repo.families[name],
                            name == repo.default_recognizer)
                for name, engine in sorted(repo.recognizers.items())
            ]
        if request.kind in (models_pb2.MODEL_KIND_UNSPECIFIED, models_pb2.MODEL_KIND_VOICE):
            models += [
                _model_info(engine.info, models_pb2.MODEL_KIND_VOICE, repo.families[name],
                            name == repo.default_voice)
                for name, engine in sorted(repo.voices.items())
            ]
        return models_pb2.ListModelsResponse(models=models)


def _model_info(info: ModelInfo, kind: int, family: str,
                is_default: bool) -> models_pb2.ModelInfo:
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
    )
