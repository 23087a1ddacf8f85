"""Text normalisation and the grouping of espeak clauses into sentences."""

from __future__ import annotations

from voxserve.server.tts.clauses import Clause
from voxserve.server.tts.text import SentenceSpan, normalize_text, sentence_spans


def test_control_characters_become_spaces() -> None:
    assert normalize_text("a\x00b\x01c\x1bd\x7fe\x85f") == "a b c d e f"


def test_tabs_and_line_breaks_are_kept() -> None:
    assert normalize_text("one\ttwo\nthree\r\n\nfour") == "one\ttwo\nthree\r\n\nfour"


def test_lone_surrogates_are_dropped_and_other_unicode_kept() -> None:
    assert normalize_text("x\ud800y\udfffz") == "xyz"
    text = "Café 😀 你好 Привет ﷺ \u200b"
    assert normalize_text(text) == text


def clause(start: int, end: int, ends_sentence: bool) -> Clause:
    return Clause(start, end, "", "", ends_sentence)


def test_clauses_group_into_sentences_at_sentence_ends() -> None:
    clauses = [
        clause(0, 5, False), clause(5, 12, True), clause(12, 20, True), clause(20, 24, False)
    ]
    assert sentence_spans(clauses) == [
        SentenceSpan(0, 12, (clauses[0], clauses[1])),
        SentenceSpan(12, 20, (clauses[2],)),
        SentenceSpan(20, 24, (clauses[3],)),
    ]


def test_no_clauses_no_sentences() -> None:
    assert sentence_spans([]) == []


def test_long_sentences_also_end_at_a_clause_end() -> None:
    clauses = [clause(0, 300, False), clause(300, 450, False), clause(450, 500, False),
               clause(500, 520, True)]
    assert [(s.start, s.end) for s in sentence_spans(clauses, long_sentence_chars=400)] == [
        (0, 450), (450, 520)
    ]
    assert [(s.start, s.end) for s in sentence_spans(clauses)] == [(0, 520)]
