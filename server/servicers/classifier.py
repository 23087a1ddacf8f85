"""ClassifierServicer: ClassifyLanguage, translated to a multilingual recognizer."""

from __future__ import annotations

import grpc

from voxserve.server.asr.types import LanguageIdentification
from voxserve.server.engines import Recognizer
from voxserve.server.errors import InvalidArgument, ModelNotFound
from voxserve.server.repository import ModelRepository
from voxserve.server.servicers.recognizer import (
    candidate_languages,
    check_audio_size,
    decode_request_audio,
    ms,
)
from voxserve.server.servicers.serving import ModelServicer
from voxserve.server.servicers.status_mapping import rpc
from voxserve.v1 import classifier_pb2, classifier_pb2_grpc

DEFAULT_MAX_RESULTS = 5
MAX_RESULTS_LIMIT = 200  # above Whisper's 99 languages, so "all of them" is always expressible


def max_results(config: classifier_pb2.LanguageClassificationConfig) -> int:
    if not config.HasField("max_results"):
        return DEFAULT_MAX_RESULTS
    if not 1 <= config.max_results <= MAX_RESULTS_LIMIT:
        raise InvalidArgument(
            f"config.max_results must be 1 to {MAX_RESULTS_LIMIT}, not {config.max_results}"
        )
    return config.max_results


def multilingual_recognizer(repository: ModelRepository, name: str) -> Recognizer:
    """The named recognizer, or by default the server's default one when it is multilingual,
    else the first multilingual one by name."""
    if name:
        return repository.recognizer(name)
    default = repository.recognizers.get(repository.default_recognizer)
    if default is not None and default.info.multilingual:
        return default
    for _, engine in sorted(repository.recognizers.items()):
        if engine.info.multilingual:
            return engine
    raise ModelNotFound("the server holds no multilingual recognizer to identify languages "
                        "with; export one (voxserve export whisper --model base)")


def classify_language_response(found: LanguageIdentification, model: str, count: int
                               ) -> classifier_pb2.ClassifyLanguageResponse:
    if found.ranking is None:
        return classifier_pb2.ClassifyLanguageResponse(
            model=model, audio_duration_ms=ms(found.duration_s))
    return classifier_pb2.ClassifyLanguageResponse(
        languages=[classifier_pb2.LanguageProbability(language_code=item.code,
                                                      probability=item.probability)
                   for item in found.ranking.top(count)],
        model=model,
        audio_duration_ms=ms(found.duration_s),
        start_offset_ms=ms(found.start_s),
        end_offset_ms=ms(found.end_s),
    )


class ClassifierServicer(ModelServicer, classifier_pb2_grpc.ClassifierServicer):
    @rpc
    async def ClassifyLanguage(
        self, request: classifier_pb2.ClassifyLanguageRequest, context: grpc.aio.ServicerContext
    ) -> classifier_pb2.ClassifyLanguageResponse:
        config = request.config
        check_audio_size(request.audio_content, self._config.max_audio_bytes)
        count = max_results(config)
        recognizer = multilingual_recognizer(self._state.repository, config.model)
        candidates = candidate_languages(config.language_codes)
        with self._admission.slot():
            audio = await decode_request_audio(self._pool, config, request.audio_content,
                                               self._config.max_stream_duration_s)
            found = await self._pool.run(recognizer.identify_language, audio.samples,
                                         candidates)
        return classify_language_response(found, recognizer.info.name, count)
