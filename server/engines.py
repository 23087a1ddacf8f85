"""The model boundary: what the repository holds (the Recognizer and Voice protocols) and
ModelInfo, what every loaded model tells a listing about itself.

The engines (asr/whisper.py WhisperRecognizer, tts/piper.py PiperVoice) satisfy these; the
servicers and the repository see only these types, never an engine class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from voxserve.server.asr.types import (
    LanguageIdentification,
    RecognizerInfo,
    TranscribeOptions,
    Transcript,
)
from voxserve.server.runtime import RuntimeOptions
from voxserve.server.stop import StopSignal
from voxserve.server.tts.clauses import Clause
from voxserve.server.tts.types import SentenceAudio, SynthesisOptions, UnitPlan, VoiceInfo
from voxserve.server.tts.units import TextUnit


class ModelInfo(Protocol):
    """The facts every loaded model lists (RecognizerInfo and VoiceInfo both carry them)."""

    @property
    def name(self) -> str: ...
    @property
    def language_codes(self) -> tuple[str, ...]: ...
    @property
    def sample_rate_hz(self) -> int: ...
    @property
    def description(self) -> str: ...
    @property
    def execution_provider(self) -> str: ...


class Recognizer(Protocol):
    """A speech-to-text engine; shared by every call, immutable after load."""

    @property
    def info(self) -> RecognizerInfo: ...

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions,
                   stop: StopSignal | None = None) -> Transcript:
        """Cancelled (errors.Cancelled) between steps once `stop` is set."""
        ...

    def identify_language(self, audio: np.ndarray,
                          language_codes: tuple[str, ...] = ()) -> LanguageIdentification:
        """Rank the spoken language (multilingual models; others raise InvalidArgument)."""
        ...


class Voice(Protocol):
    """A text-to-speech engine; shared by every call, immutable after load."""

    @property
    def info(self) -> VoiceInfo: ...
    @property
    def default_length_scale(self) -> float: ...

    def sentences(self, text: str) -> list[str]: ...

    def synthesize_sentence(self, index: int, sentence: str,
                            options: SynthesisOptions) -> SentenceAudio: ...

    def shortest_duration_s(self, text: str, options: SynthesisOptions) -> float:
        """A lower bound of the audio `text` becomes, without synthesis."""
        ...

    def synthesize(self, text: str, options: SynthesisOptions) -> np.ndarray: ...

    # Streamed text (StreamingSynthesizeText): only voices with split graphs stream.
    @property
    def streams(self) -> bool: ...

    def clauses(self, text: str) -> list[Clause]: ...

    def plan_unit(self, unit: TextUnit, options: SynthesisOptions) -> UnitPlan | None: ...

    def render_window(self, plan: UnitPlan, index: int) -> np.ndarray: ...


class RecognizerLoader(Protocol):
    def __call__(self, folder: Path, manifest: dict[str, Any],
                 runtime: RuntimeOptions) -> Recognizer: ...


class VoiceLoader(Protocol):
    def __call__(self, folder: Path, manifest: dict[str, Any],
                 runtime: RuntimeOptions) -> Voice: ...


def load_whisper(folder: Path, manifest: dict[str, Any], runtime: RuntimeOptions) -> Recognizer:
    from voxserve.server.asr.whisper import WhisperRecognizer

    return WhisperRecognizer.load(folder, manifest, runtime)


def load_piper(folder: Path, manifest: dict[str, Any], runtime: RuntimeOptions) -> Voice:
    from voxserve.server.tts.piper import PiperVoice

    return PiperVoice.load(folder, manifest, runtime)


# family -> the loader of its engine, by the kind it serves
RECOGNIZERS: dict[str, RecognizerLoader] = {"whisper": load_whisper}
VOICES: dict[str, VoiceLoader] = {"piper": load_piper}
