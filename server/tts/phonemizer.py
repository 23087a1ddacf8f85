"""espeak-ng phonemes grouped by sentence, exactly as Piper's espeak phonemizer produces them.

Per clause (piper1-gpl `phonemize_espeak.py`): drop language-switch flags like "(fr)", append the
clause terminator, and a space after , : ; then split the NFD form into code points, so accents
become phonemes of their own. A sentence ends where espeak says the clause ends a sentence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from voxserve.server.tts.clauses import Clause, ClauseReader
from voxserve.server.tts.espeak import espeak
from voxserve.server.tts.text import normalize_text, sentence_spans

_LANGUAGE_FLAG = re.compile(r"\([^)]+\)")


@dataclass(frozen=True)
class PhonemizedSentence:
    """A sentence's source text (a slice of the normalised input) and its phonemes."""

    text: str
    phonemes: tuple[str, ...]


# A sentence this long (about 30 s of speech) also ends at its next clause end; Piper would run
# the model once on the whole sentence, however long (memory and first-chunk latency grow).
LONG_SENTENCE_CHARS = 400


class Phonemizer:
    """Text to Piper phonemes for one espeak-ng voice; safe to share between threads."""

    def __init__(
        self, espeak_voice: str, long_sentence_chars: int | None = LONG_SENTENCE_CHARS
    ) -> None:
        self._reader = ClauseReader(espeak(), espeak_voice)
        self._long_sentence_chars = long_sentence_chars

    def clauses(self, text: str) -> list[Clause]:
        """espeak's clauses of `text`, which must already be normalize_text()'s output."""
        return self._reader.clauses(text)

    def sentences(self, text: str) -> list[PhonemizedSentence]:
        """The sentences of `text` with their phonemes; empty ones (only spaces) are dropped."""
        text = normalize_text(text)
        out = []
        for span in sentence_spans(self._reader.clauses(text), self._long_sentence_chars):
            phonemes = tuple(p for clause in span.clauses for p in clause_phonemes(clause))
            if phonemes:
                out.append(PhonemizedSentence(text[span.start : span.end], phonemes))
        return out


def clause_phonemes(clause: Clause) -> list[str]:
    """One clause's phoneme code points, terminator included."""
    phonemes = _LANGUAGE_FLAG.sub("", clause.phonemes) + clause.terminator
    if clause.terminator in (",", ":", ";"):
        phonemes += " "  # not a sentence boundary: keep the words apart
    return list(unicodedata.normalize("NFD", phonemes))
