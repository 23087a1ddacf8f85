"""The Piper voice engine: text -> espeak-ng phonemes -> VITS (ONNX Runtime) -> audio.

One PiperVoice per voice folder, shared by all requests: it holds no per-request state, its ONNX
Runtime session is thread-safe, and espeak-ng sits behind its own lock. Synthesis follows
piper-tts (voice.py): one model run per sentence, audio peak-normalised per sentence.

A voice imported with its split graphs (encoder.onnx, flow.onnx and vocoder.onnx, or the earlier
encoder.onnx + decoder.onnx; export/piper_split.py) runs them instead of model.onnx: the noise
then comes from a generator that `seed` fixes, and streamed units (plan_unit / render_window)
decode in windows and know their word timings.
"""

from __future__ import annotations

import dataclasses
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
    run,
)
from voxserve.server.tts.clauses import Clause
from voxserve.server.tts.phoneme_ids import PhonemeIdMap
from voxserve.server.tts.phonemizer import PhonemizedSentence, Phonemizer, clause_phonemes
from voxserve.server.tts.text import normalize_text
from voxserve.server.tts.types import (
    SentenceAudio,
    SynthesisOptions,
    UnitPlan,
    VoiceInfo,
    WordSpan,
)
from voxserve.server.tts.units import TextUnit
from voxserve.server.tts.vits import Latent, SplitVits, windows
from voxserve.server.tts.voice_config import VoiceConfig
from voxserve.server.tts.words import ClauseText, word_frames

_INPUTS = ("input", "input_lengths", "scales")  # Piper's ONNX export; "sid" when multi-speaker
_SILENT_PEAK = 1e-8  # piper-tts: below this a sentence is silence, not scaled up
# A windowed unit cannot be peak-normalised before its end is made: it takes the gain that
# normalises this sentence (seed 0), measured when the voice loads.
_CALIBRATION_TEXT = "The quick brown fox jumps over the lazy dog, and then it runs away."
# The least speech one model input id (a phoneme or the pad after it) has come out as, at the
# voice's own pace: en_US-joe-medium gave 22-41 ms per id over 8 sentences of 4-109 characters
# (plain prose, numbers, letters spelled out). 18 ms keeps a margin, so a text refused for its
# length before synthesis would surely have been too long.
MIN_SECONDS_PER_ID = 0.018
# The split encoder and the flow run on one intra-op thread whatever the operator's count: their
# ops are small (the encoder's ~2,200 after optimisation, the duration predictor's spline flows;
# the flow's ~290 WaveNet ops on 192 channels), so handing each to a second thread and waking it
# costs more than the thread saves. In-process A/B on the shared 2-core machine (the vocoder on 2
# threads throughout), CPU s per audio s of a 9-word sentence as the text stream speaks it:
# encoder on 1 thread 0.0565 against 0.0676 on 2 (decoder graph); then the flow on 1 thread
# 0.0525 against 0.0634 on 2 (the 38-word sentence: 0.0592 against 0.0618).
SMALL_OPS_THREADS = 1


class PiperVoice:
    """A loaded Piper (VITS) voice."""

    def __init__(
        self, config: VoiceConfig, session: ort.InferenceSession, phonemizer: Phonemizer,
        shrink_arena: bool = False, split: SplitVits | None = None,
    ) -> None:
        self._shrink_arena = shrink_arena  # False: the arena keeps its memory between runs
        self._config = config
        self._session = session
        self._phonemizer = phonemizer
        self._split = split
        self._ids = PhonemeIdMap(config.phoneme_id_map, config.vowel_clusters)
        self._has_sid = any(i.name == "sid" for i in session.get_inputs())
        self._hop, self._stream_gain = self._calibrate() if split else (0, 1.0)
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
        """Open a voice folder (manifest.json + model.onnx, or its split graphs when listed);
        ModelLoadError when unusable."""
        config = VoiceConfig.from_manifest(folder, manifest)
        phonemizer = Phonemizer(config.espeak_voice)
        files = manifest.get("files", {})
        # A sentence's run grows the arena by about 14 MiB per second of its speech; unless the
        # operator keeps it (--voice-memory-arena), that goes back after each run.
        shrink_arena = not runtime.voice_memory_arena
        if files.get("encoder") and (files.get("vocoder") or files.get("decoder")):
            split = _open_split(config, folder, files, runtime, shrink_arena)
            return cls(config, split.encoder, phonemizer, shrink_arena, split=split)
        session = _open(config, config.model_path, runtime)
        _check_inputs(config, session)
        return cls(config, session, phonemizer, shrink_arena)

    @property
    def streams(self) -> bool:
        """Whether this voice has split graphs: windowed units, word timings, seeds."""
        return self._split is not None

    def clauses(self, text: str) -> list[Clause]:
        """espeak's clauses of normalised text (for the stream's UnitCutter)."""
        return self._phonemizer.clauses(text)

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
        if self._split is not None:
            latent = self._encode(ids, options)
            return _normalise(self._decode(latent, 0, latent.frames))
        if options.seed is not None:
            raise InvalidArgument(
                f"voice {self._config.name!r} has no split graphs, so it cannot take a seed "
                "(import it again with `voxserve export piper-voice`)", field="config.seed"
            )
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(self._scales(options), dtype=np.float32),
        }
        if self._has_sid:
            feeds["sid"] = np.array([self._speaker(options)], dtype=np.int64)
        audio = np.asarray(run(self._session, None, feeds, self._shrink_arena)[0],
                           dtype=np.float32)
        return _normalise(audio)

    def _encode(self, ids: list[int], options: SynthesisOptions, streamed: bool = False
                ) -> Latent:
        """The encoder run, its noise drawn from the seed and the ids (identical requests give
        identical audio, whatever else the stream holds) or, unseeded, from fresh entropy."""
        assert self._split is not None
        rng = np.random.default_rng(None if options.seed is None else [options.seed, *ids])
        speaker = self._speaker(options) if self._has_sid else None
        return self._split.encode(ids, self._scales(options), speaker, rng, streamed)

    def _decode(self, latent: Latent, start: int, end: int, streamed: bool = False
                ) -> np.ndarray:
        assert self._split is not None
        return self._split.decode(latent, start, end, streamed)

    def _speaker(self, options: SynthesisOptions) -> int:
        speaker = options.speaker_id
        return self._config.default_speaker_id if speaker is None else speaker

    def plan_unit(self, unit: TextUnit, options: SynthesisOptions) -> UnitPlan | None:
        """A streamed unit through the encoder: its windows, gain and word timings; None when
        it holds nothing to speak. A first unit decodes in growing windows (first audio after a
        fraction of the unit's cost), the others in one run normalised like a sentence."""
        assert self._split is not None, "plan_unit needs a voice with split graphs"
        self._check_options(options)
        text = normalize_text(unit.text)
        clauses = [c for c in self._phonemizer.clauses(text) if c.phonemes.strip()]
        per_clause = [clause_phonemes(c) for c in clauses]
        phonemes = [p for part in per_clause for p in part]
        if not self._ids.speakable(phonemes):
            return None
        ids, positions = self._ids.ids_with_positions(phonemes)
        latent = self._encode(ids, options, streamed=True)
        texts = [ClauseText(text[c.start : c.end], len(part))
                 for c, part in zip(clauses, per_clause, strict=True)]
        words = tuple(
            WordSpan(w.word, w.start_frame * self._hop, w.end_frame * self._hop)
            for w in word_frames(texts, phonemes, positions, latent.durations)
        )
        silence = self._silence(options).size if unit.ends_sentence else 0
        spans = windows(latent.frames, unit.first)
        return UnitPlan(unit=unit, latent=latent, windows=spans, words=words,
                        gain=self._stream_gain if len(spans) > 1 else None,
                        silence_samples=silence, hop=self._hop)

    def render_window(self, plan: UnitPlan, index: int) -> np.ndarray:
        """Window `index` of a planned unit as float32 in [-1, 1]; the last one ends with the
        unit's silence."""
        start, end = plan.windows[index]
        audio = self._decode(plan.latent, start, end, streamed=True)
        audio = _normalise(audio) if plan.gain is None else np.clip(audio * plan.gain, -1, 1)
        if index == len(plan.windows) - 1 and plan.silence_samples:
            audio = np.concatenate([audio, np.zeros(plan.silence_samples, dtype=np.float32)])
        return audio.astype(np.float32, copy=False)

    def _calibrate(self) -> tuple[int, float]:
        """Samples per frame, and the gain that peak-normalises the calibration sentence."""
        phonemes = self._phonemizer.sentences(_CALIBRATION_TEXT)[0].phonemes
        latent = self._encode(self._ids.ids(phonemes), SynthesisOptions(seed=0))
        audio = self._decode(latent, 0, latent.frames)
        peak = float(np.max(np.abs(audio)))
        return audio.size // latent.frames, 1.0 / peak if peak > _SILENT_PEAK else 1.0

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


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Peak-normalised to 1 like piper-tts; a silent run stays silent."""
    audio = audio.reshape(-1)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < _SILENT_PEAK:
        return np.zeros_like(audio)
    return np.clip(audio / peak, -1.0, 1.0)


def _open(config: VoiceConfig, path: Path, runtime: RuntimeOptions, spinning: bool = True
          ) -> ort.InferenceSession:
    try:
        return create_session(path, runtime, spinning=spinning)
    except Exception as error:  # ORT raises its own untyped errors for corrupt files
        raise ModelLoadError(f"voice {config.name!r}: cannot load {path.name}: {error}") from error


def _open_split(config: VoiceConfig, folder: Path, files: Mapping[str, Any],
                runtime: RuntimeOptions, shrink_arena: bool) -> SplitVits:
    """The split graphs a manifest lists: encoder, flow and vocoder, or encoder and decoder."""
    # Not spinning: the graphs alternate on every unit, and each pool spinning while another
    # works cost 0.099 against 0.053 CPU s per audio s (10 sentences, 2 threads, busy 2-core
    # machine; model.onnx with spinning: 0.082).
    small_ops = dataclasses.replace(runtime, intra_op_threads=SMALL_OPS_THREADS)
    encoder = _open(config, folder / str(files["encoder"]), small_ops, spinning=False)
    flow = None
    if files.get("vocoder"):
        if not files.get("flow"):
            raise ModelLoadError(f"voice {config.name!r}: its manifest lists a vocoder, no flow")
        flow = _open(config, folder / str(files["flow"]), small_ops, spinning=False)
    vocoder = _open(config, folder / str(files.get("vocoder") or files["decoder"]), runtime,
                    spinning=False)
    missing = SplitVits.missing_inputs(encoder, vocoder, flow)
    if missing:
        raise ModelLoadError(f"voice {config.name!r}: split graphs lack {missing}")
    _check_inputs(config, encoder)
    return SplitVits(encoder, vocoder, shrink_arena, flow)


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
