"""Word error rate over normalised text (lower case, no punctuation, a few numbers spelt out).

The edit counting is the package's one WER helper (voxserve.export.whisper.quality); this module
owns only the tests' normalisation."""

from __future__ import annotations

import re

from voxserve.export.whisper.quality import word_error_rate

_NUMBERS = {"2": "two", "3": "three", "7": "seven", "9": "nine"}


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = [_NUMBERS.get(word, word) for word in text.split()]
    return " ".join(words)


def wer(references: list[str], hypotheses: list[str]) -> float:
    """Word edits over reference words, summed over the pairs (jiwer's corpus WER)."""
    return word_error_rate([normalise(r) for r in references], [normalise(h) for h in hypotheses])
