"""The Piper voice engine: text -> espeak-ng phonemes -> VITS (ONNX Runtime) -> audio.

One PiperVoice per voice folder, shared by all requests: it holds no per-request state, its ONNX
Runtime session is thread-safe, and espeak-ng sits behind its own lock. Synthesis follows
piper-tts (voice.py): one model run per sentence, audio peak-normalised per sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from voxserve.server.errors import InvalidArgument, ModelLoadError
from voxserve.server.runtime import (
    RuntimeOptions,
    active_provider,
    create_session,
    release_freed_memory,
)
from voxserve.server.tts.phoneme_ids import PhonemeIdMap
from voxserve.server.tts.phonemizer import PhonemizedSentence, Phonemizer
from voxserve.server.tts.types import SentenceAudio, SynthesisOptions, VoiceInfo
from voxserve.server.tts.voice_config import VoiceConfig

_INPUTS = ("input", "input_lengths", "scales")  # Piper's ONNX export; "sid" when multi-speaker
_SILENT_PEAK = 1e-8  # piper-tts: below this a sentence is silence, not scaled up
# The least speech one model input id (a phoneme or the pad after it) has come out as, at the
# voice's own pace: en_US-joe-medium gave 22-41 ms per id over 8 sentences of 4-109 characters
# (plain prose, numbers, letters spelled out). 18 ms keeps a margin, so a text refused for its
# length before synthesis would surely have been too long.
MIN_SECONDS_PER_ID = 0.018


class PiperVoice:
    """A loaded Piper (VITS) voice."""

    def __init__(
        self, config: VoiceConfig, session: ort.InferenceSession, phonemizer: Phonemizer,
        trim_memory: bool = True,
    ) -> None:
        self._trim_memory = trim_memory  # no arena: hand freed memory back after each run
        self._config = config
        self._session = session
        self._phonemizer = phonemizer
        self._ids = PhonemeIdMap(config.phoneme_id_map, config.vowel_clusters)
        self._has_sid = any(i.name == "sid" for i in session.get_inputs())
        self.info = VoiceInfo(
            name=config.name,
            language_codes=config.language_codes,
            sample_rate_hz=config.sample_rate_hz,
            speakers=config.speakers,
            description=config.description,
            execution_provider=active_provider(session),
        )

    @classmethod
    def load(cls, folder: Path, manifest: Mapping[str, Any], runtime: RuntimeOptions) -> PiperVoice:
        """Open a voice folder (manifest.json + model.onnx); ModelLoadError when unusable."""
        config = VoiceConfig.from_manifest(folder, manifest)
        phonemizer = Phonemizer(config.espeak_voice)
        try:
            session = create_session(config.model_path, runtime,
                                     memory_arena=runtime.voice_memory_arena)
        except Exception as error:  # ORT raises its own untyped errors for corrupt files
            raise ModelLoadError(
                f"voice {config.name!r}: cannot load {config.model_path.name}: {error}"
            ) from error
        _check_inputs(config, session)
        return cls(config, session, phonemizer, trim_memory=not runtime.voice_memory_arena)

    @property
    def default_length_scale(self) -> float:
        """The voice's own pace; the servicer sends default_length_scale / speaking_rate."""
        return self._config.length_scale

    def sentences(self, text: str) -> list[str]:
        """The text split into the sentences synthesis will speak, for streaming."""
        return [sentence.text for sentence in self._speakable(text)]

    def shortest_duration_s(self, text: str, options: SynthesisOptions) -> float:
        """A lower bound on the audio `text` becomes (sentence silences included), from its
        phonemes alone: cheap (espeak-ng only), so limits are checked before any synthesis."""
        sentences = self._speakable(text)
        ids = sum(len(self._ids.ids(s.phonemes)) for s in sentences)
        length_scale = options.length_scale or self._config.length_scale
        pace = length_scale / self._config.length_scale
        return ids * MIN_SECONDS_PER_ID * pace + len(sentences) * options.sentence_silence_s

    def synthesize_sentence(
        self, index: int, sentence: str, options: SynthesisOptions
    ) -> SentenceAudio:
        """One sentence (as returned by sentences()) to audio, trailing silence included."""
        self._check_options(options)
        parts = [self._audio(s.phonemes, options) for s in self._speakable(sentence)]
        audio = np.concatenate([*parts, self._silence(options)])
        return SentenceAudio(index=index, text=sentence, audio=audio)

    def synthesize(self, text: str, options: SynthesisOptions) -> np.ndarray:
        """The whole text: each sentence followed by the sentence silence."""
        self._check_options(options)
        silence = self._silence(options)
        parts: list[np.ndarray] = []
        for sentence in self._speakable(text):
            parts.extend((self._audio(sentence.phonemes, options), silence))
        return np.concatenate(parts)

    def _speakable(self, text: str) -> list[PhonemizedSentence]:
        sentences = [s for s in self._phonemizer.sentences(text) if self._ids.speakable(s.phonemes)]
        if not sentences:
            raise InvalidArgument("text contains nothing to speak")
        return sentences

    def _check_options(self, options: SynthesisOptions) -> None:
        speaker = options.speaker_id
        count = self._config.num_speakers
        if speaker is not None and speaker >= count:
            raise InvalidArgument(
                f"speaker_id {speaker} is out of range: voice {self._config.name!r} has "
                f"{count} speaker{'s' if count > 1 else ''} (ids 0..{count - 1})"
            )

    def _audio(self, phonemes: tuple[str, ...], options: SynthesisOptions) -> np.ndarray:
        """One sentence through the model, peak-normalised like piper-tts."""
        ids = self._ids.ids(phonemes)
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(self._scales(options), dtype=np.float32),
        }
        if self._has_sid:
            speaker = options.speaker_id
            sid = self._config.default_speaker_id if speaker is None else speaker
            feeds["sid"] = np.array([sid], dtype=np.int64)
        try:
            audio = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32).reshape(-1)
        finally:
            if self._trim_memory:
                release_freed_memory()
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < _SILENT_PEAK:
            return np.zeros_like(audio)
        return np.clip(audio / peak, -1.0, 1.0)

    def _scales(self, options: SynthesisOptions) -> tuple[float, float, float]:
        """(noise_scale, length_scale, noise_w), the order of Piper's `scales` input."""
        config = self._config
        return (
            config.noise_scale if options.noise_scale is None else options.noise_scale,
            config.length_scale if options.length_scale is None else options.length_scale,
            config.noise_w if options.noise_w is None else options.noise_w,
        )

    def _silence(self, options: SynthesisOptions) -> np.ndarray:
        samples = round(options.sentence_silence_s * self._config.sample_rate_hz)
        return np.zeros(samples, dtype=np.float32)


def _check_inputs(config: VoiceConfig, session: ort.InferenceSession) -> None:
    names = {i.name for i in session.get_inputs()}
    missing = [name for name in _INPUTS if name not in names]
    if config.num_speakers > 1 and "sid" not in names:
        missing.append("sid")
    if missing:
        raise ModelLoadError(
            f"voice {config.name!r}: {config.model_path.name} lacks the inputs {missing}; "
            "is it a Piper export?"
        )
