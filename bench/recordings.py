"""Bench recordings: espeak-ng speech of the test sentence set cut to known lengths and layouts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from bench.support import RATE_HZ, espeak, sentences

# Below this amplitude espeak's output is its own leading/trailing silence (it writes exact zeros
# or dither well under -60 dBFS there), so the voiced span of a clip is known to the sample.
_VOICED_AMPLITUDE = 1e-3
GAP_S = 0.3  # pause between sentences inside one utterance-length recording


@dataclass(frozen=True)
class Recording:
    """Float32 mono 16 kHz audio and the words spoken in it."""

    name: str
    audio: np.ndarray
    text: str

    def __post_init__(self) -> None:
        if self.audio.dtype != np.float32 or self.audio.ndim != 1:
            raise ValueError("audio must be 1-D float32")

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE_HZ


@dataclass(frozen=True)
class Utterance:
    """One utterance inside a multi-utterance recording, with where its speech ends."""

    text: str
    speech_start_s: float
    speech_end_s: float


@dataclass(frozen=True)
class Conversation:
    """Utterances separated by known pauses, for streaming benches."""

    audio: np.ndarray
    utterances: tuple[Utterance, ...]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE_HZ


def voiced(clip: np.ndarray) -> np.ndarray:
    """`clip` without espeak's leading and trailing silence."""
    loud = np.flatnonzero(np.abs(clip) > _VOICED_AMPLITUDE)
    if len(loud) == 0:
        return clip[:0]
    return clip[loud[0]:loud[-1] + 1]


def filled(target_s: float, first: int = 0) -> Recording:
    """Sentences (from index `first`, cycling) packed into exactly `target_s` seconds of audio.

    Whole sentences while they fit, then the longest word prefix of the next sentence that fits,
    then silence up to the target; a target shorter than any sentence gets a word prefix only.
    """
    target = int(round(target_s * RATE_HZ))
    gap = np.zeros(int(GAP_S * RATE_HZ), dtype=np.float32)
    parts: list[np.ndarray] = []
    words: list[str] = []
    used = 0
    for sentence in itertools.islice(itertools.cycle(sentences()), first, None):
        clip = voiced(espeak(sentence))
        if used + len(clip) <= target:
            parts += [clip, gap]
            words.append(sentence)
            used += len(clip) + len(gap)
            continue
        prefix, prefix_text = _longest_prefix(sentence, target - used)
        if len(prefix):
            parts.append(prefix)
            words.append(prefix_text)
            used += len(prefix)
        break
    audio = np.concatenate(parts)[:target] if parts else np.zeros(0, dtype=np.float32)
    audio = np.concatenate([audio, np.zeros(target - len(audio), dtype=np.float32)])
    return Recording(f"{target_s:g} s", audio.astype(np.float32), " ".join(words))


def _longest_prefix(sentence: str, room: int) -> tuple[np.ndarray, str]:
    tokens = sentence.rstrip(".?!").split()
    for count in range(len(tokens) - 1, 0, -1):
        text = " ".join(tokens[:count])
        clip = voiced(espeak(text))
        if len(clip) <= room:
            return clip, text
    return np.zeros(0, dtype=np.float32), ""


def conversation(count: int, pause_s: float, first: int = 0, lead_s: float = 0.5) -> Conversation:
    """`count` sentences (cycling from `first`) with `pause_s` of silence after each."""
    parts = [np.zeros(int(lead_s * RATE_HZ), dtype=np.float32)]
    utterances: list[Utterance] = []
    at = len(parts[0])
    for sentence in itertools.islice(itertools.cycle(sentences()), first, first + count):
        clip = voiced(espeak(sentence))
        utterances.append(Utterance(sentence, at / RATE_HZ, (at + len(clip)) / RATE_HZ))
        parts += [clip, np.zeros(int(pause_s * RATE_HZ), dtype=np.float32)]
        at += len(clip) + int(pause_s * RATE_HZ)
    return Conversation(np.concatenate(parts).astype(np.float32), tuple(utterances))
