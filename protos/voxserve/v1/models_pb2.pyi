from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_KIND_UNSPECIFIED: _ClassVar[ModelKind]
    MODEL_KIND_RECOGNIZER: _ClassVar[ModelKind]
    MODEL_KIND_VOICE: _ClassVar[ModelKind]
MODEL_KIND_UNSPECIFIED: ModelKind
MODEL_KIND_RECOGNIZER: ModelKind
MODEL_KIND_VOICE: ModelKind

class ListModelsRequest(_message.Message):
    __slots__ = ("kind",)
    KIND_FIELD_NUMBER: _ClassVar[int]
    kind: ModelKind
    def __init__(self, kind: _Optional[_Union[ModelKind, str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class Speaker(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class ModelCapabilities(_message.Message):
    __slots__ = ("streaming_recognition", "word_time_offsets", "language_detection", "translation", "streaming_synthesis", "multiple_speakers")
    STREAMING_RECOGNITION_FIELD_NUMBER: _ClassVar[int]
    WORD_TIME_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_DETECTION_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    STREAMING_SYNTHESIS_FIELD_NUMBER: _ClassVar[int]
    MULTIPLE_SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    streaming_recognition: bool
    word_time_offsets: bool
    language_detection: bool
    translation: bool
    streaming_synthesis: bool
    multiple_speakers: bool
    def __init__(self, streaming_recognition: _Optional[bool] = ..., word_time_offsets: _Optional[bool] = ..., language_detection: _Optional[bool] = ..., translation: _Optional[bool] = ..., streaming_synthesis: _Optional[bool] = ..., multiple_speakers: _Optional[bool] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "kind", "family", "language_codes", "sample_rate_hz", "speakers", "is_default", "description", "execution_provider", "version", "capabilities", "variant")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    SPEAKERS_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: ModelKind
    family: str
    language_codes: _containers.RepeatedScalarFieldContainer[str]
    sample_rate_hz: int
    speakers: _containers.RepeatedCompositeFieldContainer[Speaker]
    is_default: bool
    description: str
    execution_provider: str
    version: str
    capabilities: ModelCapabilities
    variant: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[ModelKind, str]] = ..., family: _Optional[str] = ..., language_codes: _Optional[_Iterable[str]] = ..., sample_rate_hz: _Optional[int] = ..., speakers: _Optional[_Iterable[_Union[Speaker, _Mapping]]] = ..., is_default: _Optional[bool] = ..., description: _Optional[str] = ..., execution_provider: _Optional[str] = ..., version: _Optional[str] = ..., capabilities: _Optional[_Union[ModelCapabilities, _Mapping]] = ..., variant: _Optional[str] = ...) -> None: ...
