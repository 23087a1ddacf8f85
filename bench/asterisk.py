"""Real human speech in several languages: Debian's Asterisk prompts and their texts (for the
language bench and the language tests).

`asterisk-core-sounds-{en,es,fr}-wav` hold 8 kHz telephony WAVs read by professional speakers
(US English, Mexican Spanish, Canadian French); `asterisk-core-sounds-{en,es,fr}` list their texts,
one `name: text` line per prompt. Lines in [brackets] or (parentheses) are tones or noises, not
speech, and are skipped.
"""

from __future__ import annotations

import functools
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from bench.support import RATE_HZ

SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
# language -> the voice folder the -wav package installs
VOICES = {"en": "en_US_f_Allison", "es": "es_MX_f_Allison", "fr": "fr_CA_f_June"}
_NOT_SPEECH = re.compile(r"^\s*[\[(].*[\])]\s*$")


@dataclass(frozen=True)
class Prompt:
    """One recorded prompt and what it says."""

    language: str  # ISO 639-1, the language it is spoken in
    name: str  # relative to the voice folder, without ".wav" ("digits/1", "agent-pass")
    path: Path
    text: str

    def audio(self) -> np.ndarray:
        """Float32 mono 16 kHz samples."""
        return load_16k(self.path)


@functools.cache
def prompts(language: str) -> tuple[Prompt, ...]:
    """Every speech prompt of `language` whose WAV is installed, sorted by name."""
    texts = DOCS / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    folder = SOUNDS / VOICES[language]
    if not texts.is_file() or not folder.is_dir():
        raise FileNotFoundError(f"install asterisk-core-sounds-{language} and "
                                f"asterisk-core-sounds-{language}-wav (Debian)")
    found: dict[str, Prompt] = {}
    for line in gzip.open(texts, "rt", encoding="utf-8", errors="replace"):
        if line.startswith(";") or ":" not in line:
            continue
        name, text = (part.strip() for part in line.split(":", 1))
        path = folder / f"{name}.wav"
        if text and not _NOT_SPEECH.match(text) and path.is_file():
            found[name] = Prompt(language, name, path, text)
    return tuple(found[name] for name in sorted(found))


def spread(items: tuple[Prompt, ...], count: int, min_words: int = 1) -> list[Prompt]:
    """`count` prompts of at least `min_words` words, evenly spread over the sorted list (the
    same ones on every run, not only the "a..." prompts)."""
    pool = [p for p in items if len(p.text.split()) >= min_words]
    if count >= len(pool):
        return pool
    step = len(pool) / count
    return [pool[int(i * step)] for i in range(count)]


def load_16k(path: Path) -> np.ndarray:
    """Any file libsndfile reads (WAV, FLAC, MP3), mixed to mono and resampled to 16 kHz."""
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    return soxr.resample(mono, rate, RATE_HZ).astype(np.float32)
