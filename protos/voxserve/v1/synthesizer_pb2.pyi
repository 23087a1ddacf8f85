from voxserve.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SynthesisConfig(_message.Message):
    __slots__ = ("voice", "speaker_id", "speaking_rate", "sample_rate_hz", "encoding", "sentence_silence_ms", "noise_scale", "noise_w", "container", "language_code", "seed")
    VOICE_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_ID_FIELD_NUMBER: _ClassVar[int]
    SPEAKING_RATE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    NOISE_SCALE_FIELD_NUMBER: _ClassVar[int]
    NOISE_W_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    voice: str
    speaker_id: int
    speaking_rate: float
    sample_rate_hz: int
    encoding: _audio_pb2.AudioEncoding
    sentence_silence_ms: int
    noise_scale: float
    noise_w: float
    container: _audio_pb2.AudioContainer
    language_code: str
    seed: int
    def __init__(self, voice: _Optional[str] = ..., speaker_id: _Optional[int] = ..., speaking_rate: _Optional[float] = ..., sample_rate_hz: _Optional[int] = ..., encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., sentence_silence_ms: _Optional[int] = ..., noise_scale: _Optional[float] = ..., noise_w: _Optional[float] = ..., container: _Optional[_Union[_audio_pb2.AudioContainer, str]] = ..., language_code: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class SynthesizeRequest(_message.Message):
    __slots__ = ("text", "config")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    text: str
    config: SynthesisConfig
    def __init__(self, text: _Optional[str] = ..., config: _Optional[_Union[SynthesisConfig, _Mapping]] = ...) -> None: ...

class SynthesizeResponse(_message.Message):
    __slots__ = ("audio_content", "sample_rate_hz", "encoding", "audio_duration_ms", "voice", "container", "language_code")
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    VOICE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    audio_content: bytes
    sample_rate_hz: int
    encoding: _audio_pb2.AudioEncoding
    audio_duration_ms: int
    voice: str
    container: _audio_pb2.AudioContainer
    language_code: str
    def __init__(self, audio_content: _Optional[bytes] = ..., sample_rate_hz: _Optional[int] = ..., encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., audio_duration_ms: _Optional[int] = ..., voice: _Optional[str] = ..., container: _Optional[_Union[_audio_pb2.AudioContainer, str]] = ..., language_code: _Optional[str] = ...) -> None: ...

class StreamingSynthesizeRequest(_message.Message):
    __slots__ = ("text", "config")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    text: str
    config: SynthesisConfig
    def __init__(self, text: _Optional[str] = ..., config: _Optional[_Union[SynthesisConfig, _Mapping]] = ...) -> None: ...

class StreamingSynthesizeResponse(_message.Message):
    __slots__ = ("audio_content", "sample_rate_hz", "encoding", "offset_ms", "audio_duration_ms", "sentence_index", "text", "language_code")
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SENTENCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    audio_content: bytes
    sample_rate_hz: int
    encoding: _audio_pb2.AudioEncoding
    offset_ms: int
    audio_duration_ms: int
    sentence_index: int
    text: str
    language_code: str
    def __init__(self, audio_content: _Optional[bytes] = ..., sample_rate_hz: _Optional[int] = ..., encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., offset_ms: _Optional[int] = ..., audio_duration_ms: _Optional[int] = ..., sentence_index: _Optional[int] = ..., text: _Optional[str] = ..., language_code: _Optional[str] = ...) -> None: ...

class StreamingSynthesizeTextRequest(_message.Message):
    __slots__ = ("config", "text", "flush", "clear")
    class TextFlush(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    class TextClear(_message.Message):
        __slots__ = ()
        def __init__(self) -> None: ...
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FLUSH_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIELD_NUMBER: _ClassVar[int]
    config: SynthesisConfig
    text: str
    flush: StreamingSynthesizeTextRequest.TextFlush
    clear: StreamingSynthesizeTextRequest.TextClear
    def __init__(self, config: _Optional[_Union[SynthesisConfig, _Mapping]] = ..., text: _Optional[str] = ..., flush: _Optional[_Union[StreamingSynthesizeTextRequest.TextFlush, _Mapping]] = ..., clear: _Optional[_Union[StreamingSynthesizeTextRequest.TextClear, _Mapping]] = ...) -> None: ...

class WordTiming(_message.Message):
    __slots__ = ("word", "start_offset_ms", "end_offset_ms")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_offset_ms: int
    end_offset_ms: int
    def __init__(self, word: _Optional[str] = ..., start_offset_ms: _Optional[int] = ..., end_offset_ms: _Optional[int] = ...) -> None: ...

class StreamingSynthesizeTextResponse(_message.Message):
    __slots__ = ("audio_content", "sample_rate_hz", "encoding", "start_offset_ms", "audio_duration_ms", "unit_index", "text", "words", "cleared", "language_code")
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    UNIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    audio_content: bytes
    sample_rate_hz: int
    encoding: _audio_pb2.AudioEncoding
    start_offset_ms: int
    audio_duration_ms: int
    unit_index: int
    text: str
    words: _containers.RepeatedCompositeFieldContainer[WordTiming]
    cleared: bool
    language_code: str
    def __init__(self, audio_content: _Optional[bytes] = ..., sample_rate_hz: _Optional[int] = ..., encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., start_offset_ms: _Optional[int] = ..., audio_duration_ms: _Optional[int] = ..., unit_index: _Optional[int] = ..., text: _Optional[str] = ..., words: _Optional[_Iterable[_Union[WordTiming, _Mapping]]] = ..., cleared: _Optional[bool] = ..., language_code: _Optional[str] = ...) -> None: ...
