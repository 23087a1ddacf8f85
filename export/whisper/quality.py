"""Word error rate of transcripts against known sentences (for the int8 variant's report)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9']+")


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation: the comparison ignores case and punctuation."""
    return _WORD.findall(text.lower())


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Total word edits over total reference words, after normalising both sides."""
    if len(references) != len(hypotheses):
        raise ValueError("one hypothesis per reference is needed")
    ref_words = [normalize_words(r) for r in references]
    errors = sum(edit_distance(r, normalize_words(h)) for r, h in zip(ref_words, hypotheses,
                                                                        strict=True))
    total = sum(len(r) for r in ref_words)
    if total == 0:
        raise ValueError("references hold no words")
    return errors / total
