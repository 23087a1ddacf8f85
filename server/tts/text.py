"""Input text as espeak-ng should see it, and the sentences espeak's clauses make of it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from voxserve.server.tts.clauses import Clause

# C0/C1 control characters other than tab and line breaks: espeak reads U+0001 as the start of
# an embedded command (voice or punctuation switch) and NUL would end the C string early.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lone surrogates cannot be encoded as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """Control characters become spaces and unencodable code points go; all else is kept as is
    (Piper passes text to espeak unchanged, and the voices were trained on what espeak makes of
    it: numbers, abbreviations and symbols are expanded by espeak itself)."""
    return _SURROGATE.sub("", _CONTROL.sub(" ", text))


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence: clauses up to one that ends a sentence, as a slice of the text."""

    start: int
    end: int
    clauses: tuple[Clause, ...]


def sentence_spans(
    clauses: Sequence[Clause], long_sentence_chars: int | None = None
) -> list[SentenceSpan]:
    """Group clauses into sentences where espeak marks a sentence end (Piper's rule).

    With `long_sentence_chars`, a sentence that has grown to that many characters also ends at
    its next clause end (a comma, or espeak's own cut of a clause too long for its buffer), so
    no single model run, and no streamed chunk, grows without bound.
    """
    spans: list[SentenceSpan] = []
    pending: list[Clause] = []
    for clause in clauses:
        pending.append(clause)
        long = long_sentence_chars is not None and (
            clause.end - pending[0].start >= long_sentence_chars
        )
        if clause.ends_sentence or long:
            spans.append(SentenceSpan(pending[0].start, pending[-1].end, tuple(pending)))
            pending = []
    if pending:
        spans.append(SentenceSpan(pending[0].start, pending[-1].end, tuple(pending)))
    return spans
