"""Word timings from phoneme durations: written words paired with espeak's phoneme words."""

from __future__ import annotations

import numpy as np

from voxserve.server.tts.phoneme_ids import PhonemeIdMap
from voxserve.server.tts.words import ClauseText, WordFrames, word_frames, written_words

IDS = PhonemeIdMap({"_": [0], "^": [1], "$": [2], " ": [3], ",": [4], ".": [5],
                    "a": [6], "b": [7], "c": [8]})


def timings(clauses: list[tuple[str, str]], frames_per_id: int = 2) -> list[WordFrames]:
    phonemes = [p for _, ph in clauses for p in ph]
    ids, positions = IDS.ids_with_positions(phonemes)
    durations = np.full(len(ids), frames_per_id, dtype=np.int64)
    return word_frames([ClauseText(text, len(ph)) for text, ph in clauses], phonemes, positions,
                       durations)


def test_written_words_drop_punctuation_around_words() -> None:
    assert written_words("Well, I paid $100 -- (for it)! U.S.A.") == [
        "Well", "I", "paid", "$100", "for", "it", "U.S.A"]


def test_one_phoneme_word_per_written_word() -> None:
    # ids: ^ _ a _ b _ " " _ c _ . _ $ ; every id 2 frames
    assert timings([("ab c.", "ab c.")]) == [WordFrames("ab", 4, 12), WordFrames("c", 16, 20)]


def test_positions_skip_unknown_phonemes() -> None:
    ids, positions = IDS.ids_with_positions(["a", "x", "b"])
    assert ids == [1, 0, 6, 0, 7, 0, 2]
    assert positions == [2, 4, 4]


def test_merged_and_split_words_stay_in_order() -> None:
    # espeak ran "of the" into one phoneme word, and said "$1" as two
    words = timings([("of the $1, ", "ab, "), ("c", "a b c")])
    assert [w.word for w in words] == ["of", "the", "$1", "c"]
    for before, after in zip(words, words[1:], strict=False):
        assert before.start_frame <= before.end_frame <= after.start_frame
    assert words[-1].end_frame <= 2 * len(IDS.ids(list("ab, a b c")))
