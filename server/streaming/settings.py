"""Stream and endpointing settings: the detector enum, one table of ranges and defaults, and
EndpointingOptions, the settings a stream is cut into utterances by.

The one home of these facts: ServerConfig holds the server's EndpointingOptions (from flags),
each stream's request overrides the fields it sets, and the VADs and the endpointer take the
result. The ranges are those recognizer.proto documents for EndpointingConfig.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from voxserve.server.errors import InvalidArgument


class Detector(str, enum.Enum):
    """A voice activity detector: WebRTC's GMM (30 ms frames) or Silero's ONNX model (32 ms)."""

    WEBRTC = "webrtc"
    SILERO = "silero"


@dataclass(frozen=True)
class Setting:
    """An integer setting's inclusive range and its default."""

    low: int
    high: int
    default: int

    def check(self, name: str, value: int) -> None:
        if not self.low <= value <= self.high:
            raise InvalidArgument(f"{name} must be {self.low} to {self.high}, not {value}")


# The endpointing table (recognizer.proto's EndpointingConfig documents the same ranges).
ENDPOINTING = {
    "vad_aggressiveness": Setting(0, 3, 2),  # webrtcvad's modes
    "min_silence_ms": Setting(100, 10000, 500),
    "speech_pad_ms": Setting(0, 1000, 300),
    "max_utterance_ms": Setting(1000, 30000, 20000),
    "min_speech_ms": Setting(30, 2000, 120),
}
INTERIM_INTERVAL_MS = Setting(100, 5000, 500)
# An utterance's first interim is requested once this much of its speech has been heard: the
# start window's default min_speech_ms, so with the defaults at SPEECH_STARTED itself. Chosen
# when an interim decode cost about 0.3 s of CPU however short the audio (the 30 s re-decode of
# short windows): at 4 streams the first interim came 0.34 s p50 after the speech's start with
# 120 ms, 0.52 s with 200 ms, 0.58 s with 300 ms. Interims that cut loops (asr/repeats.py) cost
# 0.04-0.06 s (docs/benchmarks.md, issue 14c); the first now comes 0.22-0.26 s p50 after it.
FIRST_INTERIM_MS = 120
# Until an utterance's interims have held words (the budget skipped one, or it decoded before
# the first word), the next is requested after this much more audio rather than a whole
# interval; for at most one interval, so audio that never yields words costs little.
FIRST_INTERIM_RETRY_MS = 100
# Silero's speech probability threshold (silero-vad's default), and how far below it a frame
# may fall while speech goes on: its VADIterator leaves speech only 0.15 below the threshold.
SILERO_THRESHOLD = 0.5
SILERO_HYSTERESIS = 0.15


def check_silero_threshold(threshold: float) -> None:
    """An operator setting (no client sends it): a bad value is a ValueError, like config's."""
    if not SILERO_HYSTERESIS < threshold < 1.0:
        raise ValueError(
            f"silero_threshold must be in ({SILERO_HYSTERESIS}, 1), not {threshold}")


@dataclass(frozen=True)
class EndpointingOptions:
    """How a stream is cut into utterances; the defaults are the table's."""

    detector: Detector = Detector.WEBRTC
    vad_aggressiveness: int = ENDPOINTING["vad_aggressiveness"].default
    min_silence_ms: int = ENDPOINTING["min_silence_ms"].default
    speech_pad_ms: int = ENDPOINTING["speech_pad_ms"].default
    max_utterance_ms: int = ENDPOINTING["max_utterance_ms"].default
    min_speech_ms: int = ENDPOINTING["min_speech_ms"].default
    silero_threshold: float = SILERO_THRESHOLD  # operator setting, not sent by clients

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "detector", Detector(self.detector))
        except ValueError:
            raise InvalidArgument(f"endpointing.detector must be webrtc or silero, not "
                                  f"{self.detector}") from None
        for name, setting in ENDPOINTING.items():
            setting.check(f"endpointing.{name}", getattr(self, name))
        check_silero_threshold(self.silero_threshold)
