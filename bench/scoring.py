"""Scoring transcripts: word error rate after Whisper's English normaliser ("five" = "5",
"colour" = "color"), and echoes: words a recognizer repeats that the reference says once.

The edit counting is the package's (voxserve.export.whisper.quality); the benches and the tests
(tests/wer.py) score with this module."""

from __future__ import annotations

import functools

from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from voxserve.export.whisper.quality import edit_distance


@functools.cache
def _normaliser(language: str) -> EnglishTextNormalizer | BasicTextNormalizer:
    return EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()


def normalise(text: str, language: str = "en") -> str:
    """Lower case, no punctuation, numbers and spellings in one form (whisper-normalizer)."""
    return " ".join(_normaliser(language)(text).split())


def wer(references: list[str], hypotheses: list[str], language: str = "en") -> float:
    """Pooled WER of the pairs (errors over all reference words), after `normalise`; words heard
    where the reference has none (a tone, silence) count as insertions."""
    refs = [normalise(r, language) for r in references]
    hyps = [normalise(h, language) for h in hypotheses]
    spoken = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    inserted = sum(len(h.split()) for r, h in zip(refs, hyps, strict=True) if not r)
    if not spoken:
        return float(inserted)
    errors = sum(edit_distance(r.split(), h.split()) for r, h in spoken) + inserted
    return errors / sum(len(r.split()) for r, _ in spoken)


def echoes(reference: str, hypothesis: str) -> list[str]:
    """Word blocks the hypothesis says twice in a row where the reference does not ("left left",
    "mailbox mail box": blocks are compared without spaces). Empty when there is none."""
    said = _repeated_blocks(normalise(reference).split())
    return [block for block in _repeated_blocks(normalise(hypothesis).split())
            if block not in said]


def _repeated_blocks(words: list[str]) -> list[str]:
    """Each block of words (any length) followed at once by the same letters ("press press",
    "has left the conference has left the conference", "mailbox mail box")."""
    found: list[str] = []
    for start in range(len(words)):
        for size in range(1, len(words) - start):
            first = "".join(words[start:start + size])
            second = ""
            for end in range(start + size, len(words)):
                second += words[end]
                if len(second) >= len(first):
                    if second == first:
                        found.append(first)
                    break
    return found
