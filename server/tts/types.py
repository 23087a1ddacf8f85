"""Options and results of the voice engine: request settings, sentence audio, voice facts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from voxserve.server.errors import InvalidArgument
from voxserve.server.tts.units import TextUnit
from voxserve.server.tts.vits import Latent

# Bounds that keep a request's cost sane; the servicer's own limits (speaking rate 0.25-4,
# sentence silence 0-5000 ms) fall inside them.
MIN_LENGTH_SCALE = 0.05
MAX_LENGTH_SCALE = 20.0
MAX_NOISE = 2.0  # Piper's defaults are 0.667 and 0.8; above ~1.5 speech turns to babble
MAX_SENTENCE_SILENCE_S = 10.0


@dataclass(frozen=True)
class SynthesisOptions:
    """Per-request settings; None takes the voice's default from its manifest."""

    speaker_id: int | None = None
    length_scale: float | None = None  # > 1 speaks slower; the servicer sends default / rate
    noise_scale: float | None = None
    noise_w: float | None = None
    sentence_silence_s: float = 0.2
    seed: int | None = None  # fixes the VITS noise (split graphs only); None: fresh each time

    def __post_init__(self) -> None:
        if self.speaker_id is not None and self.speaker_id < 0:
            raise InvalidArgument(f"speaker_id must be >= 0, not {self.speaker_id}")
        if self.length_scale is not None:
            _check_range("length_scale", self.length_scale, MIN_LENGTH_SCALE, MAX_LENGTH_SCALE)
        if self.noise_scale is not None:
            _check_range("noise_scale", self.noise_scale, 0.0, MAX_NOISE)
        if self.noise_w is not None:
            _check_range("noise_w", self.noise_w, 0.0, MAX_NOISE)
        _check_range("sentence_silence_s", self.sentence_silence_s, 0.0, MAX_SENTENCE_SILENCE_S)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidArgument(f"{name} must be between {low:g} and {high:g}, not {value:g}")


@dataclass(frozen=True)
class SentenceAudio:
    """One synthesized sentence: float32 samples in [-1, 1] at the voice's rate, trailing
    sentence silence included."""

    index: int
    text: str
    audio: np.ndarray


@dataclass(frozen=True)
class WordSpan:
    """A written word and the samples [start, end) it is spoken in, from its unit's start."""

    word: str
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class UnitPlan:
    """A streamed unit after the encoder: what render_window() decodes, window by window."""

    unit: TextUnit
    latent: Latent
    windows: tuple[tuple[int, int], ...]  # [start, end) frames, covering the unit
    words: tuple[WordSpan, ...]
    gain: float | None  # fixed gain of a windowed unit; None: normalised by its own peak
    silence_samples: int  # appended to the last window (sentence silence)
    hop: int  # samples per frame

    def window_samples(self, index: int) -> tuple[int, int]:
        """Samples [start, end) of window `index` from the unit's start, silence included."""
        start, end = self.windows[index]
        last = index == len(self.windows) - 1
        return start * self.hop, end * self.hop + (self.silence_samples if last else 0)


@dataclass(frozen=True)
class VoiceInfo:
    """What a loaded voice is, for listings and for the servicer's conversions."""

    name: str
    language_codes: tuple[str, ...]
    sample_rate_hz: int
    speakers: tuple[tuple[int, str], ...]  # (id, name) of a multi-speaker voice; empty otherwise
    description: str
    execution_provider: str
