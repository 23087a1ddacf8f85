from voxserve.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LanguageClassificationConfig(_message.Message):
    __slots__ = ("encoding", "sample_rate_hz", "audio_channel_count", "model", "language_codes", "max_results")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHANNEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    encoding: _audio_pb2.AudioEncoding
    sample_rate_hz: int
    audio_channel_count: int
    model: str
    language_codes: _containers.RepeatedScalarFieldContainer[str]
    max_results: int
    def __init__(self, encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., audio_channel_count: _Optional[int] = ..., model: _Optional[str] = ..., language_codes: _Optional[_Iterable[str]] = ..., max_results: _Optional[int] = ...) -> None: ...

class ClassifyLanguageRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: LanguageClassificationConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[LanguageClassificationConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class LanguageProbability(_message.Message):
    __slots__ = ("language_code", "probability")
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    language_code: str
    probability: float
    def __init__(self, language_code: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class ClassifyLanguageResponse(_message.Message):
    __slots__ = ("languages", "model", "audio_duration_ms", "start_offset_ms", "end_offset_ms")
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    languages: _containers.RepeatedCompositeFieldContainer[LanguageProbability]
    model: str
    audio_duration_ms: int
    start_offset_ms: int
    end_offset_ms: int
    def __init__(self, languages: _Optional[_Iterable[_Union[LanguageProbability, _Mapping]]] = ..., model: _Optional[str] = ..., audio_duration_ms: _Optional[int] = ..., start_offset_ms: _Optional[int] = ..., end_offset_ms: _Optional[int] = ...) -> None: ...
