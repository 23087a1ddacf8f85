"""Phonemes to model ids: Piper's padding, unknown phonemes, vowel clusters."""

from __future__ import annotations

import pytest

from voxserve.server.errors import ModelLoadError
from voxserve.server.tts.phoneme_ids import PhonemeIdMap

MAP = {"_": [0], "^": [1], "$": [2], " ": [3], ".": [10], "a": [14], "ɪ": [74], "aɪ": [161],
       "h": [20], "ˈ": [120]}


def test_ids_are_padded_and_framed() -> None:
    assert PhonemeIdMap(MAP).ids(["h", "ˈ", "a", "."]) == [1, 0, 20, 0, 120, 0, 14, 0, 10, 0, 2]


def test_empty_phonemes_give_only_the_frame() -> None:
    assert PhonemeIdMap(MAP).ids([]) == [1, 0, 2]


def test_unknown_phonemes_are_skipped() -> None:
    assert PhonemeIdMap(MAP).ids(["h", "☃", "a"]) == [1, 0, 20, 0, 14, 0, 2]


def test_vowel_clusters_merge_when_configured() -> None:
    phonemes = ["h", "a", "ɪ", "."]
    assert PhonemeIdMap(MAP).ids(phonemes) == [1, 0, 20, 0, 14, 0, 74, 0, 10, 0, 2]
    merged = PhonemeIdMap(MAP, vowel_clusters=[["a", "ɪ"]])
    assert merged.ids(phonemes) == [1, 0, 20, 0, 161, 0, 10, 0, 2]


def test_multi_id_phonemes_keep_all_ids() -> None:
    assert PhonemeIdMap({**MAP, "x": [5, 6]}).ids(["x"]) == [1, 0, 5, 6, 0, 2]


def test_speakable_needs_a_known_sound() -> None:
    ids = PhonemeIdMap(MAP)
    assert ids.speakable(["h", "."])
    assert not ids.speakable([".", " "])
    assert not ids.speakable(["☃"])


def test_map_without_pad_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="'_'"):
        PhonemeIdMap({"^": [1], "$": [2]})
