"""Word timings of a unit: the model's frames per phoneme id mapped back to the words of the text.

espeak separates the phonemes of a clause into words with spaces, but not always one per written
word ("of the" comes out as one, "$100" as two, in another order). Within each clause, written
words and phoneme words are paired one to one when their counts agree; otherwise each phoneme
word goes to the written word at the same relative position (by characters), and a written word
left without one gets a zero-length timing where the previous one ended.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class WordFrames:
    """A written word and the frames [start, end) it is spoken in, from the unit's start."""

    word: str
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class ClauseText:
    """A clause's text and how many phonemes of the unit's phoneme list are its own."""

    text: str
    phoneme_count: int


def written_words(text: str) -> list[str]:
    """The words of a text: whitespace-separated tokens with something besides punctuation,
    stripped of the punctuation around them ("fox," -> "fox", "$100" stays, "--" is none)."""
    words = []
    for token in _TOKEN.findall(text):
        if any(unicodedata.category(c)[0] != "P" for c in token):
            start, end = 0, len(token)
            while unicodedata.category(token[start])[0] == "P":
                start += 1
            while unicodedata.category(token[end - 1])[0] == "P":
                end -= 1
            words.append(token[start:end])
    return words


def word_frames(clauses: Sequence[ClauseText], phonemes: Sequence[str], positions: Sequence[int],
                durations: np.ndarray) -> list[WordFrames]:
    """Timings of every written word of the clauses, in order, monotonic.

    `positions[k]` is the index of phoneme k's first id (PhonemeIdMap.ids_with_positions) and
    `durations` the frames of each id (the encoder's output).
    """
    cum = np.concatenate([[0], np.cumsum(durations)]).astype(np.int64)
    eos = len(durations) - 1

    def frame_at(phoneme: int) -> int:
        return int(cum[positions[phoneme]] if phoneme < len(positions) else cum[eos])

    out: list[WordFrames] = []
    first = 0
    for clause in clauses:
        spans = _phoneme_words(phonemes, first, first + clause.phoneme_count)
        frames = [(frame_at(a), frame_at(b)) for a, b in spans]
        default = frame_at(first)
        out.extend(_pair(written_words(clause.text), frames, out[-1].end_frame if out else default))
        first += clause.phoneme_count
    return out


def _phoneme_words(phonemes: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
    """[first, last + 1) phoneme indices of the sounds of each space-separated group."""
    spans: list[tuple[int, int]] = []
    begin = None
    for index in range(start, end + 1):
        is_space = index == end or phonemes[index] == " "
        if begin is None and not is_space:
            begin = index
        elif begin is not None and is_space:
            sounds = [i for i in range(begin, index) if _is_sound(phonemes[i])]
            if sounds:  # the group without punctuation around it (the clause's "," or ".")
                spans.append((sounds[0], sounds[-1] + 1))
            begin = None
    return spans


def _is_sound(phoneme: str) -> bool:
    return unicodedata.category(phoneme[0])[0] in "LM"


def _pair(words: list[str], frames: list[tuple[int, int]], previous_end: int
          ) -> list[WordFrames]:
    if not words:
        return []
    if len(words) == len(frames):
        return [WordFrames(w, s, e) for w, (s, e) in zip(words, frames, strict=True)]
    lengths = np.array([len(w) for w in words], dtype=np.float64)
    bounds = np.concatenate([[0.0], np.cumsum(lengths) / lengths.sum()])
    assigned: list[list[tuple[int, int]]] = [[] for _ in words]
    for j, span in enumerate(frames):
        centre = (j + 0.5) / len(frames)
        index = min(int(np.searchsorted(bounds, centre, side="right")) - 1, len(words) - 1)
        assigned[index].append(span)
    out: list[WordFrames] = []
    for word, spans in zip(words, assigned, strict=True):
        if spans:
            start, end = max(spans[0][0], previous_end), spans[-1][1]
        else:
            start = end = previous_end
        out.append(WordFrames(word, start, end))
        previous_end = end
    return out
