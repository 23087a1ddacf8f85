"""Stream settings: the server's EndpointingOptions from its config, each stream overriding what
its request sets, and the one table of ranges checked at both places."""

from __future__ import annotations

import pytest

from voxserve.server.config import ServerConfig
from voxserve.server.errors import InvalidArgument
from voxserve.server.servicers.recognizer import stream_options
from voxserve.server.streaming.settings import ENDPOINTING, Detector, EndpointingOptions
from voxserve.v1 import audio_pb2, recognizer_pb2


def streaming(**endpointing: object) -> recognizer_pb2.StreamingRecognitionConfig:
    return recognizer_pb2.StreamingRecognitionConfig(
        config=recognizer_pb2.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                                sample_rate_hz=16000),
        endpointing=recognizer_pb2.EndpointingConfig(**endpointing),  # type: ignore[arg-type]
    )


def test_the_server_config_holds_the_endpointing_defaults() -> None:
    config = ServerConfig(vad="silero", vad_aggressiveness=3, min_silence_ms=800,
                          silero_threshold=0.6)
    assert config.endpointing == EndpointingOptions(
        detector=Detector.SILERO, vad_aggressiveness=3, min_silence_ms=800, speech_pad_ms=300,
        max_utterance_ms=20000, min_speech_ms=120, silero_threshold=0.6)


def test_a_stream_takes_the_server_settings_it_does_not_set() -> None:
    server = ServerConfig(vad="silero", min_silence_ms=800, silero_threshold=0.6)
    assert stream_options(streaming(), server).endpointing == server.endpointing
    mine = stream_options(streaming(
        detector=recognizer_pb2.VOICE_ACTIVITY_DETECTOR_WEBRTC, min_silence_ms=300,
        speech_pad_ms=0), server).endpointing
    assert (mine.detector, mine.min_silence_ms, mine.speech_pad_ms) == (Detector.WEBRTC, 300, 0)
    assert (mine.max_utterance_ms, mine.silero_threshold) == (20000, 0.6)


@pytest.mark.parametrize("name", sorted(ENDPOINTING))
def test_every_endpointing_range_is_checked(name: str) -> None:
    setting = ENDPOINTING[name]
    for value in (setting.low, setting.high):
        assert getattr(EndpointingOptions(**{name: value}), name) == value  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=f"endpointing.{name} must be {setting.low} to "
                       f"{setting.high}, not {setting.high + 1}"):
        EndpointingOptions(**{name: setting.high + 1})  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("vad", "rnnoise", "vad must be webrtc or silero, not 'rnnoise'"),
    ("min_silence_ms", 50, "min_silence_ms must be 100 to 10000, not 50"),
    ("silero_threshold", 0.1, r"silero_threshold must be in \(0.15, 1\), not 0.1"),
    ("interim_interval_ms", 99, "interim_interval_ms must be 100 to 5000, not 99"),
])
def test_bad_server_settings_are_config_errors(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**{field: value})  # type: ignore[arg-type]
