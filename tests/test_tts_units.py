"""UnitCutter on espeak-ng's real clauses: where text arriving in pieces is cut into units."""

from __future__ import annotations

import pytest

from tests.speech import sentences
from voxserve.server.tts.phonemizer import Phonemizer
from voxserve.server.tts.units import TextUnit, UnitCutter

PHONEMIZER = Phonemizer("en-us")


def cutter() -> UnitCutter:
    return UnitCutter(PHONEMIZER.clauses)


def cut(pieces: list[str], flush: bool = True) -> list[tuple[str, bool, bool]]:
    units: list[TextUnit] = []
    stream = cutter()
    for piece in pieces:
        units += stream.push(piece)
    if flush:
        units += stream.flush()
    assert [u.index for u in units] == list(range(len(units)))
    return [(u.text, u.ends_sentence, u.first) for u in units]


def by_char(text: str) -> list[str]:
    return list(text)


def test_first_unit_is_the_first_words_then_sentences() -> None:
    text = " ".join(sentences()[:3])
    assert cut([text]) == [
        ("The quick brown fox jumps", False, True),
        (" over the lazy dog. ", True, False),
        ("Please call me back when you get this message. ", True, False),
        ("The weather today is sunny with a light breeze.", True, False),
    ]


@pytest.mark.parametrize("split", [by_char, str.split, lambda t: [t]])
def test_the_same_text_gives_the_same_units_in_any_split(split: object) -> None:
    text = ("Hi, how are you? Mr. Smith paid $1,000 for the U.S.A. map, which he had wanted "
            "for years, ever since he first saw it in a small shop near the harbour, and he "
            "was happy... Then he left.")
    pieces = split(text)  # type: ignore[operator]
    if split is str.split:
        pieces = [word + " " for word in pieces]
        text += " "
    units = cut(pieces)
    assert "".join(u[0] for u in units) == text
    assert units == cut([text])


def test_a_short_first_clause_is_the_first_unit() -> None:
    assert cut(["Sure, I can help with that. "])[:2] == [
        ("Sure, ", False, True), ("I can help with that. ", True, False)]


def test_a_sentence_end_waits_for_what_follows_it() -> None:
    stream = cutter()
    assert stream.push("Yes. I") == []  # "Yes. i..." would not end a sentence: wait
    assert [u.text for u in stream.push("t works.")] == ["Yes. "]
    assert stream.pending_chars == len("It works.")
    assert [u.text for u in stream.flush()] == ["It works."]
    assert stream.pending_chars == 0


def test_abbreviation_before_lower_case_is_no_cut() -> None:
    assert [u[0] for u in cut(["Ask Dr. Brown about it. We ask e.g. nobody."])] == [
        "Ask Dr. ", "Brown about it. ", "We ask e.g. nobody."]


def test_long_sentences_are_cut_at_clause_ends() -> None:
    text = ("After the meeting that had been moved to Thursday afternoon, everybody went home, "
            "though some of us stayed behind to finish the report, and then we had dinner, "
            "which was late, cold and, to be honest, not very good at all.")
    units = cut(["Okay. ", text])
    assert units == [
        ("Okay. ", True, True),
        # the second unit may hold 10 words: cut at the clause end before the 10th
        ("After the meeting that had been moved to Thursday afternoon, ", False, False),
        # 20 words: cut at a clause end once the unit is 80 characters long
        ("everybody went home, though some of us stayed behind to finish the report, and then "
         "we had dinner, ", False, False),
        ("which was late, cold and, to be honest, not very good at all.", True, False),
    ]


def test_a_long_sentence_without_commas_is_cut_at_words_of_doubling_count() -> None:
    words = [f"w{i}" for i in range(60)]
    units = cut([" ".join(words) + "."])
    assert [len(u[0].split()) for u in units] == [5, 10, 20, 25]
    assert [u[1] for u in units] == [False, False, False, True]


def test_nothing_is_cut_before_a_flush_and_the_rest_comes_with_it() -> None:
    assert cut(["Hello there"], flush=False) == []
    assert cut(["Hello there"]) == [("Hello there", True, True)]
    assert cut(["   "]) == []


def test_clear_drops_pending_text_and_starts_a_first_unit_again() -> None:
    stream = cutter()
    first = stream.push("One two three four five six seven. Eight nine")
    assert [u.text for u in first] == ["One two three four five", " six seven. "]
    stream.clear()
    assert stream.pending_chars == 0
    units = stream.push("Ten eleven twelve thirteen fourteen fifteen ")
    assert [(u.index, u.text, u.first) for u in units] == [
        (2, "Ten eleven twelve thirteen fourteen", True)]
