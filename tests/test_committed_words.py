"""CommittedWords, the eagerness rule and the arrival clock: exact outputs for scripted input."""

from __future__ import annotations

import pytest

from voxserve.server.streaming.arrivals import ArrivalClock
from voxserve.server.streaming.committed import CommittedWords, without_loop
from voxserve.server.streaming.eagerness import Eagerness, ends_sentence, silence_ms


def test_committed_words_only_grow_and_keep_their_first_spelling() -> None:
    words = CommittedWords()
    hypotheses = [
        "Ask not",
        "Ask not what your",
        "ask not, what you're country",  # case and punctuation do not count
        "Ask not what your country can do",
        "Ask not what your country can do for you.",
        "Ask knot what",  # disagrees with committed words: they stay, its tail follows
    ]
    shown = [words.push(text) for text in hypotheses]
    assert [(" ".join(i.committed), " ".join(i.tentative)) for i in shown] == [
        ("", "Ask not"),
        ("Ask not", "what your"),  # agreed by both, and followed by "what"
        ("Ask not what", "you're country"),  # "your" / "you're" differ: not agreed
        ("Ask not what", "your country can do"),
        ("Ask not what your country can do", "for you."),  # "you." is last: not yet
        ("Ask not what your country can do", ""),
    ]
    for before, after in zip(shown, shown[1:], strict=False):
        assert after.committed[: len(before.committed)] == before.committed


@pytest.mark.parametrize(
    ("words", "kept"),
    [
        ("so so so so so", "so"),
        ("no no no", "no no no"),  # three single words can be speech
        ("I said thank you thank you thank you", "I said thank you"),
        ("a b c a b c a b c a b c", "a b c"),
        ("the end", "the end"),
    ],
)
def test_trailing_loops_are_cut_to_their_first_occurrence(words: str, kept: str) -> None:
    assert " ".join(without_loop(tuple(words.split()))) == kept
    assert CommittedWords().push(words).text == kept


@pytest.mark.parametrize(
    ("text", "complete"),
    [("Please call me back.", True), ("Is it ready?", True), ("Go!", True),
     ("I went to the.", False), ("Bring bread and.", False), ("Well...", False),
     ("and then", False), ("", False), ('He said "stop."', True)],
)
def test_ends_sentence(text: str, complete: bool) -> None:
    assert ends_sentence(text) is complete


def test_silence_by_eagerness() -> None:
    done, mid = "Please call me back.", "Please call me"
    assert [silence_ms(done, e, 500) for e in Eagerness] == [500, 150, 150]
    assert [silence_ms(mid, e, 500) for e in Eagerness] == [1000, 1000, 500]
    assert [silence_ms(done, e, 120) for e in Eagerness] == [120, 120, 120]  # never longer
    assert [silence_ms(mid, e, 6000) for e in Eagerness] == [10000, 6000, 6000]  # never shorter
    assert silence_ms("", Eagerness.HIGH, 500) == 500  # nothing heard: min_silence_ms


def test_arrival_clock_maps_stream_offsets_to_arrival_times() -> None:
    clock = ArrivalClock(kept=3)
    for received_s, at_s in ((0.1, 10.0), (0.2, 10.5), (0.3, 11.0)):
        clock.mark(received_s, at_s)
    assert clock.when(0.15) == 10.5  # the message that brought the audio at 0.15 s
    assert clock.when(0.2) == 10.5
    assert clock.when(0.35) is None  # not arrived yet
    clock.mark(0.4, 11.5)
    assert clock.when(0.4) == 11.5
