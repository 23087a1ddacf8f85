"""UnitCutter: text arriving piece by piece, cut into the units a voice speaks one model run each.

A unit ends at a sentence end; at a clause end (comma, colon, semicolon, espeak's own cut of an
overlong clause) once the unit has grown past `long_unit_chars`; and, while nothing has been
spoken yet, at the first clause end or after `first_unit_words` words, so the first audio does
not wait for a long first sentence to be written. After that, a unit may hold twice as many
words as the one before (up to MAX_UNIT_WORDS) before it is cut at its last clause end or, with
none, at a word: the next unit is then written and made while the last one plays, where a long
sentence without commas would leave the listener in silence. A cut is made only when it can no
longer change: espeak decides a clause end by the two characters after it ("Mr. smith" is no
sentence end), so a clause is settled once two more characters have arrived, or at a flush.

The units depend only on the text and where flushes and clears fall, never on timing: the same
text in any split gives the same units (and, with a seed, the same audio).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace

from voxserve.server.tts.clauses import Clause
from voxserve.server.tts.text import normalize_text

# readclause.c looks at the character after a clause's first pushed-back one ("U.S.A.'s")
LOOKAHEAD_CHARS = 2
FIRST_UNIT_WORDS = 5  # about 1.5 s of speech: long enough to sound like a phrase
LONG_UNIT_CHARS = 80  # about 15 words, 5 s of speech: past this a clause end also ends a unit
MAX_UNIT_WORDS = 40  # about 13 s of speech: the word cap stops doubling here
_WORD = re.compile(r"\S+")
# espeak cuts a clause without punctuation when its buffer fills (N_TR_SOURCE, 800 bytes in
# readclause.c); text this long is read by espeak on every push, punctuation or not.
_ESPEAK_CLAUSE_CHARS = 300


@dataclass(frozen=True)
class TextUnit:
    """One unit of text: its index in the stream, whether a sentence ends with it, and whether
    it is a first unit (nothing spoken before it since the start or the last clear)."""

    index: int
    text: str
    ends_sentence: bool
    first: bool


class UnitCutter:
    """Per-stream state: text not yet cut into units; `push()`, `flush()`, `clear()`."""

    def __init__(
        self,
        clauses: Callable[[str], list[Clause]],
        first_unit_words: int = FIRST_UNIT_WORDS,
        long_unit_chars: int = LONG_UNIT_CHARS,
    ) -> None:
        self._clauses = clauses
        self._first_unit_words = first_unit_words
        self._long_unit_chars = long_unit_chars
        self._buffer = ""
        self._next_index = 0
        self._spoken = False  # a unit has been cut since the start or the last clear
        self._word_cap = first_unit_words  # words the next unit may hold before a word cut

    @property
    def pending_chars(self) -> int:
        """Characters received and not yet cut into a unit."""
        return len(self._buffer)

    def push(self, text: str) -> list[TextUnit]:
        """Add a piece of text; returns the units it completes."""
        before = len(self._buffer)
        self._buffer += normalize_text(text)
        return self._cut(final=False, fresh_from=before)

    def flush(self) -> list[TextUnit]:
        """Cut everything received so far, the unfinished last sentence included."""
        return self._cut(final=True, fresh_from=0)

    def clear(self) -> None:
        """Drop the text not yet cut (barge-in); the next unit is a first unit again."""
        self._buffer = ""
        self._spoken = False
        self._word_cap = self._first_unit_words

    def _cut(self, final: bool, fresh_from: int) -> list[TextUnit]:
        units: list[TextUnit] = []
        clauses = self._scan(final, fresh_from)
        while self._buffer.strip():
            cut = self._next_cut(final, clauses)
            if cut is None:
                break
            end, ends_sentence = cut
            units.append(
                TextUnit(self._next_index, self._buffer[:end], ends_sentence, not self._spoken)
            )
            self._buffer = self._buffer[end:]
            self._next_index += 1
            self._spoken = True
            self._word_cap = min(2 * self._word_cap, MAX_UNIT_WORDS)
            # The clauses after a clause end are those of the rest; after a cut inside a clause
            # (the first words) espeak reads the rest again.
            rest = [replace(c, start=c.start - end, end=c.end - end) for c in clauses
                    if c.start >= end]
            clauses = rest if any(c.start == 0 for c in rest) else self._scan(final, 0)
        if final and not self._buffer.strip():
            self._buffer = ""
        return units

    def _scan(self, final: bool, fresh_from: int) -> list[Clause]:
        """espeak's clauses of the buffer, or none when no cut at a clause end can have become
        settled: no punctuation or line break among the new characters and the few before them
        (a clause end settled earlier that was no cut then never becomes one). Phonemizing
        the whole pending text at every token would cost as much as speaking it."""
        start = fresh_from
        while start > 0 and self._buffer[start - 1].isspace():
            start -= 1
        start = max(0, start - LOOKAHEAD_CHARS - 1)
        recent = self._buffer[start:]
        if final or len(self._buffer) >= _ESPEAK_CLAUSE_CHARS or any(
            c == "\n" or unicodedata.category(c)[0] == "P" for c in recent
        ):
            return self._clauses(self._buffer)
        return []

    def _next_cut(self, final: bool, clauses: list[Clause]) -> tuple[int, bool] | None:
        """Where the next unit ends and whether it ends a sentence; None: not known yet."""
        settled_up_to = len(self._buffer) if final else len(self._buffer) - LOOKAHEAD_CHARS
        first = not self._spoken
        # Where the word cap is reached, by the text (not by time: the same text gives the same
        # units in any split); a unit ends there, or at the last clause end before it.
        words_end = self._words_end(self._word_cap)
        clause_end = None
        for clause in clauses:
            if words_end is not None and clause.end > words_end:
                break
            if clause.end > settled_up_to:
                break
            if clause.ends_sentence:
                return clause.end, True
            if first or clause.end >= self._long_unit_chars:
                return clause.end, False
            clause_end = clause.end
        if words_end is not None:
            return (clause_end or words_end), False
        return (len(self._buffer), True) if final else None

    def _words_end(self, count: int) -> int | None:
        """The end of the first `count` words once the last of them is complete (whitespace
        after it); a word ending in punctuation is passed over, since a clause end there is cut
        by the clause rule once espeak has seen past it."""
        seen = 0
        for match in _WORD.finditer(self._buffer):
            if match.end() == len(self._buffer):
                return None
            seen += 1
            if seen >= count and match.group()[-1].isalnum():
                return match.end()
        return None
