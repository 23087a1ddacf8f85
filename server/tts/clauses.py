"""espeak-ng clauses with their terminators, as Piper's espeak bridge reports them.

Piper calls espeak_TextToPhonemesWithTerminator, which newer espeak-ng exports; the 1.52 library
of the espeakng-loader wheel has only espeak_TextToPhonemes, which returns the same phonemes but
not the clause terminator. The terminator follows from where espeak stopped reading: this module
replays the end-of-clause rules of espeak-ng 1.52 `ReadClause()` (src/libespeak-ng/readclause.c,
unchanged up to the commit piper-tts builds against) on the characters each call consumed.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxserve.server.tts.espeak import Espeak, Segment

# Clause types (readclause.h): pause in the low bits, intonation, then the clause kind.
_INTONATION_COMMA = 0x1000
_INTONATION_QUESTION = 0x2000
_INTONATION_EXCLAMATION = 0x3000
_INTONATION_NONE = 0x4000
_OPTIONAL_SPACE_AFTER = 0x8000
_TYPE_EOF = 0x10000
_TYPE_CLAUSE = 0x40000
_TYPE_SENTENCE = 0x80000
_PUNCTUATION_IN_WORD = 0x100000
_SPEAK_PUNCTUATION_NAME = 0x200000

CLAUSE_NONE = _INTONATION_NONE
CLAUSE_EOF = 40 | _TYPE_SENTENCE | _TYPE_EOF
CLAUSE_PARAGRAPH = 70 | _TYPE_SENTENCE
CLAUSE_PERIOD = 40 | _TYPE_SENTENCE
CLAUSE_COMMA = 20 | _INTONATION_COMMA | _TYPE_CLAUSE
CLAUSE_QUESTION = 40 | _INTONATION_QUESTION | _TYPE_SENTENCE
CLAUSE_EXCLAMATION = 45 | _INTONATION_EXCLAMATION | _TYPE_SENTENCE
CLAUSE_COLON = 30 | _TYPE_CLAUSE
CLAUSE_SEMICOLON = 30 | _INTONATION_COMMA | _TYPE_CLAUSE

# Piper's espeakbridge.c: `terminator & 0x000FFFFF` compared with these; anything else is "".
_TERMINATORS = {
    CLAUSE_PERIOD: ".",
    CLAUSE_QUESTION: "?",
    CLAUSE_EXCLAMATION: "!",
    CLAUSE_COMMA: ",",
    CLAUSE_COLON: ":",
    CLAUSE_SEMICOLON: ";",
}

# espeak's own Unicode properties (ucd.h, ESPEAKNG_PROPERTY_*), in the top 12 bits.
_INVERTED = 1 << 52
_IN_WORD = 1 << 53
_OPTIONAL_SPACE = 1 << 54
_EXTENDED_DASH = 1 << 55
_PARAGRAPH_SEPARATOR = 1 << 56
_ELLIPSIS = 1 << 57
_SEMI_COLON = 1 << 58
_COLON = 1 << 59
_COMMA = 1 << 60
_EXCLAMATION = 1 << 61
_QUESTION = 1 << 62
_FULL_STOP = 1 << 63
_PROPERTY_MASK = 0xFFF << 52

# clause_type_from_codepoint() of readclause.c
_CLAUSE_TYPES = {
    _FULL_STOP: CLAUSE_PERIOD,
    _FULL_STOP | _OPTIONAL_SPACE: CLAUSE_PERIOD | _OPTIONAL_SPACE_AFTER,
    _QUESTION: CLAUSE_QUESTION,
    _QUESTION | _OPTIONAL_SPACE: CLAUSE_QUESTION | _OPTIONAL_SPACE_AFTER,
    _QUESTION | _IN_WORD: CLAUSE_QUESTION | _PUNCTUATION_IN_WORD,
    _EXCLAMATION: CLAUSE_EXCLAMATION,
    _EXCLAMATION | _OPTIONAL_SPACE: CLAUSE_EXCLAMATION | _OPTIONAL_SPACE_AFTER,
    _EXCLAMATION | _IN_WORD: CLAUSE_EXCLAMATION | _PUNCTUATION_IN_WORD,
    _COMMA: CLAUSE_COMMA,
    _COMMA | _OPTIONAL_SPACE: CLAUSE_COMMA | _OPTIONAL_SPACE_AFTER,
    _COLON: CLAUSE_COLON,
    _COLON | _OPTIONAL_SPACE: CLAUSE_COLON | _OPTIONAL_SPACE_AFTER,
    _SEMI_COLON: CLAUSE_SEMICOLON,
    _EXTENDED_DASH: CLAUSE_SEMICOLON,
    _SEMI_COLON | _OPTIONAL_SPACE: CLAUSE_SEMICOLON | _OPTIONAL_SPACE_AFTER,
    _QUESTION | _OPTIONAL_SPACE | _INVERTED: CLAUSE_SEMICOLON | _OPTIONAL_SPACE_AFTER,
    _EXCLAMATION | _OPTIONAL_SPACE | _INVERTED: CLAUSE_SEMICOLON | _OPTIONAL_SPACE_AFTER,
    _ELLIPSIS: CLAUSE_SEMICOLON | _SPEAK_PUNCTUATION_NAME | _OPTIONAL_SPACE_AFTER,
    _PARAGRAPH_SEPARATOR: CLAUSE_PARAGRAPH,
}

# common.c IsBracket(): these, and U+2014..U+201F
_BRACKETS = frozenset("()[]{}<>\"'`\u00ab\u00bb\u300a\u300b\ue03c")
# tr_languages.c: translators with NUM_ORDINAL_DOT ("3. Mai") and with lowercase_sentence
_ORDINAL_DOT_LANGUAGES = frozenset(
    {"da", "de", "et", "fi", "fo", "hu", "kl", "lt", "lv", "ltg", "nl", "nb", "sl", "smj"}
)
_LOWERCASE_SENTENCE_LANGUAGES = frozenset({"ka", "mto", "xex"})
_NUL = "\0"  # espeak reads the C string's terminator as a last character


@dataclass(frozen=True)
class Clause:
    """One clause: its span in the text, its phonemes, and how espeak ended it."""

    start: int  # character offsets; the span excludes the next clause's first character
    end: int
    phonemes: str
    terminator: str  # one of . ? ! , : ; or "" (end of text, paragraph, ellipsis, ...)
    ends_sentence: bool


class ClauseReader:
    """Splits text into espeak clauses for one espeak voice and labels their terminators."""

    def __init__(self, engine: Espeak, voice: str) -> None:
        engine.check_voice(voice)
        self._engine = engine
        self._voice = voice
        self._language = voice.rsplit("/", 1)[-1].split("-", 1)[0].lower()

    def clauses(self, text: str) -> list[Clause]:
        """espeak's clauses of `text` (which must not contain NUL)."""
        out: list[Clause] = []
        start = 0
        for segment in self._engine.segments(self._voice, text):
            end = len(text) if segment.end is None else segment.end - 1
            kind = self._clause_type(text, start, end, segment)
            out.append(
                Clause(
                    start=start,
                    end=end,
                    phonemes=segment.phonemes,
                    terminator=_TERMINATORS.get(kind & 0xFFFFF, ""),
                    ends_sentence=bool(kind & _TYPE_SENTENCE),
                )
            )
            start = end
        return out

    def _clause_type(self, text: str, start: int, end: int, segment: Segment) -> int:
        """The clause type ReadClause returned for the characters text[start:end]."""
        lookahead = _NUL if segment.end is None else text[end]
        peek = text[end + 1] if segment.end is not None and end + 1 < len(text) else _NUL
        body = text[start:end]
        while body and self._engine.is_space(body[-1]):
            body = body[:-1]
        trailing = text[start + len(body) : end]
        if trailing.count("\n") >= 2:
            return CLAUSE_PARAGRAPH  # a blank line, after punctuation or not
        run_start = len(body)
        while run_start > 0 and self._char_type(body[run_start - 1]) != CLAUSE_NONE:
            run_start -= 1
        if run_start < len(body):
            after = trailing[0] if trailing else lookahead
            kind = self._punctuation_end(body, run_start, after, lookahead, peek, trailing)
            if kind is not None:
                return kind
        return CLAUSE_EOF if segment.end is None else CLAUSE_NONE

    def _punctuation_end(
        self, body: str, run_start: int, after: str, c_next: str, peek: str, trailing: str
    ) -> int | None:
        """The clause type if the punctuation run at body[run_start:] ended the clause."""
        c1 = body[run_start]
        if body.startswith("...", run_start):
            c1 = "\u2026"  # three or more dots read as an ellipsis
        kind = self._char_type(c1)
        if kind & _PUNCTUATION_IN_WORD:
            return None
        if not (
            self._engine.is_space(after) or kind & _OPTIONAL_SPACE_AFTER
            or after in _BRACKETS or "\u2014" <= after <= "\u201f"
            or after in ("?", _NUL)
        ):
            return None
        if "\n" not in trailing and not self._dot_ends(body, run_start, c1, c_next, peek):
            return None
        return kind

    def _dot_ends(self, body: str, run_start: int, c1: str, c_next: str, peek: str) -> bool:
        """ReadClause's second look when no newline follows: abbreviations, ordinals."""
        any_alnum = any(self._engine.is_alnum(char) for char in body[:run_start])
        if c1 != ".":
            return any_alnum
        if c_next == "'" and peek == "s":
            return False  # "U.S.A.'s"
        cprev = body[run_start - 1] if run_start >= 1 else " "
        cprev2 = body[run_start - 2] if run_start >= 2 else " "
        if self._language in _ORDINAL_DOT_LANGUAGES:
            roman = cprev in "IVXL" and (cprev2 in "IVXL" or self._engine.is_space(cprev2))
            if roman and not self._engine.is_digit(cprev):
                return False
            if self._engine.is_digit(cprev) and (self._engine.is_lower(c_next) or c_next == "-"):
                return False
        if self._engine.is_lower(c_next) and self._language not in _LOWERCASE_SENTENCE_LANGUAGES:
            return False  # a lower-case word follows: an abbreviation's dot
        return any_alnum

    def _char_type(self, char: str) -> int:
        if char == _NUL:
            return CLAUSE_NONE
        return _CLAUSE_TYPES.get(self._engine.properties(char) & _PROPERTY_MASK, CLAUSE_NONE)
