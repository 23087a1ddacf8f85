"""Word error rate over normalised text (lower case, no punctuation), via jiwer."""

from __future__ import annotations

import re

import jiwer

_NUMBERS = {"2": "two", "3": "three", "7": "seven", "9": "nine"}


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = [_NUMBERS.get(word, word) for word in text.split()]
    return " ".join(words)


def wer(references: list[str], hypotheses: list[str]) -> float:
    return float(jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses]))
