from voxserve.v1 import audio_pb2 as _audio_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoiceActivityDetector(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOICE_ACTIVITY_DETECTOR_UNSPECIFIED: _ClassVar[VoiceActivityDetector]
    VOICE_ACTIVITY_DETECTOR_WEBRTC: _ClassVar[VoiceActivityDetector]
    VOICE_ACTIVITY_DETECTOR_SILERO: _ClassVar[VoiceActivityDetector]

class EndpointEagerness(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENDPOINT_EAGERNESS_UNSPECIFIED: _ClassVar[EndpointEagerness]
    ENDPOINT_EAGERNESS_LOW: _ClassVar[EndpointEagerness]
    ENDPOINT_EAGERNESS_BALANCED: _ClassVar[EndpointEagerness]
    ENDPOINT_EAGERNESS_HIGH: _ClassVar[EndpointEagerness]

class SpeechEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPEECH_EVENT_TYPE_UNSPECIFIED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_END_OF_SINGLE_UTTERANCE: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_SPEECH_STARTED: _ClassVar[SpeechEventType]
    SPEECH_EVENT_TYPE_SPEECH_ENDED: _ClassVar[SpeechEventType]
VOICE_ACTIVITY_DETECTOR_UNSPECIFIED: VoiceActivityDetector
VOICE_ACTIVITY_DETECTOR_WEBRTC: VoiceActivityDetector
VOICE_ACTIVITY_DETECTOR_SILERO: VoiceActivityDetector
ENDPOINT_EAGERNESS_UNSPECIFIED: EndpointEagerness
ENDPOINT_EAGERNESS_LOW: EndpointEagerness
ENDPOINT_EAGERNESS_BALANCED: EndpointEagerness
ENDPOINT_EAGERNESS_HIGH: EndpointEagerness
SPEECH_EVENT_TYPE_UNSPECIFIED: SpeechEventType
SPEECH_EVENT_TYPE_END_OF_SINGLE_UTTERANCE: SpeechEventType
SPEECH_EVENT_TYPE_SPEECH_STARTED: SpeechEventType
SPEECH_EVENT_TYPE_SPEECH_ENDED: SpeechEventType

class RecognitionConfig(_message.Message):
    __slots__ = ("encoding", "sample_rate_hz", "audio_channel_count", "model", "language_code", "enable_word_time_offsets", "language_codes", "translate_to_english")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CHANNEL_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    ENABLE_WORD_TIME_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    TRANSLATE_TO_ENGLISH_FIELD_NUMBER: _ClassVar[int]
    encoding: _audio_pb2.AudioEncoding
    sample_rate_hz: int
    audio_channel_count: int
    model: str
    language_code: str
    enable_word_time_offsets: bool
    language_codes: _containers.RepeatedScalarFieldContainer[str]
    translate_to_english: bool
    def __init__(self, encoding: _Optional[_Union[_audio_pb2.AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., audio_channel_count: _Optional[int] = ..., model: _Optional[str] = ..., language_code: _Optional[str] = ..., enable_word_time_offsets: _Optional[bool] = ..., language_codes: _Optional[_Iterable[str]] = ..., translate_to_english: _Optional[bool] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("config", "audio_content")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    config: RecognitionConfig
    audio_content: bytes
    def __init__(self, config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("results", "transcript", "audio_duration_ms", "language_code", "model", "language_probability")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    AUDIO_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SpeechRecognitionResult]
    transcript: str
    audio_duration_ms: int
    language_code: str
    model: str
    language_probability: float
    def __init__(self, results: _Optional[_Iterable[_Union[SpeechRecognitionResult, _Mapping]]] = ..., transcript: _Optional[str] = ..., audio_duration_ms: _Optional[int] = ..., language_code: _Optional[str] = ..., model: _Optional[str] = ..., language_probability: _Optional[float] = ...) -> None: ...

class SpeechRecognitionResult(_message.Message):
    __slots__ = ("transcript", "start_offset_ms", "end_offset_ms", "confidence", "words", "language_code", "language_probability")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    start_offset_ms: int
    end_offset_ms: int
    confidence: float
    words: _containers.RepeatedCompositeFieldContainer[WordInfo]
    language_code: str
    language_probability: float
    def __init__(self, transcript: _Optional[str] = ..., start_offset_ms: _Optional[int] = ..., end_offset_ms: _Optional[int] = ..., confidence: _Optional[float] = ..., words: _Optional[_Iterable[_Union[WordInfo, _Mapping]]] = ..., language_code: _Optional[str] = ..., language_probability: _Optional[float] = ...) -> None: ...

class WordInfo(_message.Message):
    __slots__ = ("word", "start_offset_ms", "end_offset_ms", "confidence")
    WORD_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    word: str
    start_offset_ms: int
    end_offset_ms: int
    confidence: float
    def __init__(self, word: _Optional[str] = ..., start_offset_ms: _Optional[int] = ..., end_offset_ms: _Optional[int] = ..., confidence: _Optional[float] = ...) -> None: ...

class EndpointingConfig(_message.Message):
    __slots__ = ("detector", "vad_aggressiveness", "min_silence_ms", "speech_pad_ms", "max_utterance_ms", "min_speech_ms", "eagerness")
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    VAD_AGGRESSIVENESS_FIELD_NUMBER: _ClassVar[int]
    MIN_SILENCE_MS_FIELD_NUMBER: _ClassVar[int]
    SPEECH_PAD_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_MS_FIELD_NUMBER: _ClassVar[int]
    MIN_SPEECH_MS_FIELD_NUMBER: _ClassVar[int]
    EAGERNESS_FIELD_NUMBER: _ClassVar[int]
    detector: VoiceActivityDetector
    vad_aggressiveness: int
    min_silence_ms: int
    speech_pad_ms: int
    max_utterance_ms: int
    min_speech_ms: int
    eagerness: EndpointEagerness
    def __init__(self, detector: _Optional[_Union[VoiceActivityDetector, str]] = ..., vad_aggressiveness: _Optional[int] = ..., min_silence_ms: _Optional[int] = ..., speech_pad_ms: _Optional[int] = ..., max_utterance_ms: _Optional[int] = ..., min_speech_ms: _Optional[int] = ..., eagerness: _Optional[_Union[EndpointEagerness, str]] = ...) -> None: ...

class StreamingRecognitionConfig(_message.Message):
    __slots__ = ("config", "interim_results", "single_utterance", "endpointing", "interim_interval_ms", "resume_offset_ms", "resume_utterance_index")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    SINGLE_UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTING_FIELD_NUMBER: _ClassVar[int]
    INTERIM_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    RESUME_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    RESUME_UTTERANCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    config: RecognitionConfig
    interim_results: bool
    single_utterance: bool
    endpointing: EndpointingConfig
    interim_interval_ms: int
    resume_offset_ms: int
    resume_utterance_index: int
    def __init__(self, config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., interim_results: _Optional[bool] = ..., single_utterance: _Optional[bool] = ..., endpointing: _Optional[_Union[EndpointingConfig, _Mapping]] = ..., interim_interval_ms: _Optional[int] = ..., resume_offset_ms: _Optional[int] = ..., resume_utterance_index: _Optional[int] = ...) -> None: ...

class FinalizeUtterance(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamingRecognizeRequest(_message.Message):
    __slots__ = ("streaming_config", "audio_content", "finalize_utterance")
    STREAMING_CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CONTENT_FIELD_NUMBER: _ClassVar[int]
    FINALIZE_UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    streaming_config: StreamingRecognitionConfig
    audio_content: bytes
    finalize_utterance: FinalizeUtterance
    def __init__(self, streaming_config: _Optional[_Union[StreamingRecognitionConfig, _Mapping]] = ..., audio_content: _Optional[bytes] = ..., finalize_utterance: _Optional[_Union[FinalizeUtterance, _Mapping]] = ...) -> None: ...

class SpeechEvent(_message.Message):
    __slots__ = ("type", "offset_ms", "utterance_index")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    type: SpeechEventType
    offset_ms: int
    utterance_index: int
    def __init__(self, type: _Optional[_Union[SpeechEventType, str]] = ..., offset_ms: _Optional[int] = ..., utterance_index: _Optional[int] = ...) -> None: ...

class StreamingRecognitionResult(_message.Message):
    __slots__ = ("transcript", "is_final", "stability", "utterance_index", "start_offset_ms", "end_offset_ms", "confidence", "words", "language_code", "language_probability", "committed_transcript", "tentative_transcript", "latency_ms")
    TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    STABILITY_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_INDEX_FIELD_NUMBER: _ClassVar[int]
    START_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    TENTATIVE_TRANSCRIPT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    transcript: str
    is_final: bool
    stability: float
    utterance_index: int
    start_offset_ms: int
    end_offset_ms: int
    confidence: float
    words: _containers.RepeatedCompositeFieldContainer[WordInfo]
    language_code: str
    language_probability: float
    committed_transcript: str
    tentative_transcript: str
    latency_ms: int
    def __init__(self, transcript: _Optional[str] = ..., is_final: _Optional[bool] = ..., stability: _Optional[float] = ..., utterance_index: _Optional[int] = ..., start_offset_ms: _Optional[int] = ..., end_offset_ms: _Optional[int] = ..., confidence: _Optional[float] = ..., words: _Optional[_Iterable[_Union[WordInfo, _Mapping]]] = ..., language_code: _Optional[str] = ..., language_probability: _Optional[float] = ..., committed_transcript: _Optional[str] = ..., tentative_transcript: _Optional[str] = ..., latency_ms: _Optional[int] = ...) -> None: ...

class StreamingRecognizeResponse(_message.Message):
    __slots__ = ("result", "speech_event")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SPEECH_EVENT_FIELD_NUMBER: _ClassVar[int]
    result: StreamingRecognitionResult
    speech_event: SpeechEvent
    def __init__(self, result: _Optional[_Union[StreamingRecognitionResult, _Mapping]] = ..., speech_event: _Optional[_Union[SpeechEvent, _Mapping]] = ...) -> None: ...
