"""Repeated blocks: a block of words said twice in a row, found in decoded text and cut off.

Short encoder windows invent such blocks ("Please enter in New York. Please enter in New
York. ...", issue #11). An interim, which a newer interim or the final soon replaces, stops
decoding at the first repeated block and keeps only the words before its second saying
(RepeatCut). A final keeps that cut only when the second saying was heard nowhere (echoes.py);
otherwise it decodes the window again padded to 30 s (transcription.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxserve.server.asr.tokenizer import WhisperTokenizer

_WORD = re.compile(r"[\w']+")


def words_of(text: str) -> list[str]:
    """The words of `text` as compared: lower case, punctuation dropped."""
    return _WORD.findall(text.lower())


def _block_ends_at(words: list[str], end: int) -> int | None:
    """Where the second saying begins of a block said twice in a row that ends at word `end`
    (exclusive), the shortest such block; None when none ends there."""
    for size in range(1, end // 2 + 1):
        if words[end - 2 * size : end - size] == words[end - size : end]:
            return end - size
    return None


def first_repeat(words: list[str]) -> int | None:
    """Index of the word where the second saying of the earliest-ending repeated block
    begins ("a b c b c d" -> 3); None when no block of words is said twice in a row."""
    for end in range(2, len(words) + 1):
        found = _block_ends_at(words, end)
        if found is not None:
            return found
    return None


def has_repeated_words(text: str) -> bool:
    """Whether a block of words occurs twice in a row ("Agent, agent.", "This is a test. This
    is a test."), ignoring case and punctuation."""
    return first_repeat(words_of(text)) is not None


def has_loop_or_echo(text: str) -> bool:
    """Whether a block of words is said three times in a row anywhere, or twice at the very
    end: what RepeatCut cuts off, so what an interim never carries."""
    words = words_of(text)
    for end in range(2, len(words) + 1):
        for size in range(1, end // 2 + 1):
            block = words[end - size : end]
            if words[end - 2 * size : end - size] != block:
                continue
            if end == len(words) or words[max(0, end - 3 * size) : end - 2 * size] == block:
                return True
    return False


@dataclass(frozen=True)
class RepeatedEnd:
    """A block of words said twice or more at the end of a decode, and cut off."""

    tokens: tuple[int, ...]  # every token decoded, the repetition included
    second_word: int  # index (in words_of's words) of the first word of the second saying
    block_words: int  # words in the block


def prefix_length(tokenizer: WhisperTokenizer, tokens: list[int], words: int) -> int:
    """The length of the longest prefix of `tokens` whose text holds at most `words` words."""
    kept = 0
    for end in range(1, len(tokens) + 1):
        if len(words_of(tokenizer.decode(tokens[:end]))) > words:
            break
        kept = end
    return kept


class RepeatCut:
    """Watches a tentative decode's tokens as they come, for a block of words said twice in a
    row: `push()` after each token says when to stop, `finish()` at the end; then `cut_at`
    names where a loop or an echo begins, and `cut()` gives the tokens before it.

    - Said a third time in a row, a block is a loop: decoding stops and the text is cut before
      its second saying ("Please, please, please" -> "Please").
    - Said twice at the very end of the decode, it is cut the same way ("Agent logged in. Agent
      logged in." -> "Agent logged in"), as a short window's echo, or speech said twice that the
      final will hold.
    - Followed by other words, it may be speech ("No, no, thanks"): `inner` is set, and with
      `stop_at_inner` decoding stops there for the caller to decode the window again as a
      final's is (padded to 30 s); without it the words are kept and watching goes on.

    `prefix()` gives a final's cut instead: the first saying as decoded, kept only once
    echoes.py has found the second saying was heard nowhere.

    Only words followed by another word count while decoding (the newest may still grow:
    " Tom" + "orrow"), so each check looks only at newly completed words.
    """

    def __init__(self, tokenizer: WhisperTokenizer, stop_at_inner: bool = False) -> None:
        self._tokenizer = tokenizer
        self._stop_at_inner = stop_at_inner
        self._checked = 0  # complete words already looked at
        self._run: tuple[int, int] | None = None  # (second saying's first word, block size)
        self.cut_at: int | None = None  # word index where a loop or a final echo begins
        self.block_words = 0  # words in the repeated block, once cut_at is set
        self.inner = False  # a block said twice in a row was followed by other words

    def push(self, tokens: list[int]) -> bool:
        """Whether to stop decoding after `tokens` (all sampled so far)."""
        return self._scan(words_of(self._tokenizer.decode(tokens))[:-1])

    def finish(self, tokens: list[int]) -> None:
        """The decode ended with `tokens` (its last word counts now)."""
        if not self._scan(words_of(self._tokenizer.decode(tokens))) and self._run is not None:
            self.cut_at, self.block_words = self._run  # the repetition runs to the end: an echo

    def cut(self, tokens: list[int]) -> list[int]:
        """The longest prefix of `tokens` whose text holds only the words before `cut_at`, less
        the punctuation that led into the repetition ("Please," of "Please, please, please");
        all of `tokens` when nothing is to be cut."""
        if self.cut_at is None:
            return list(tokens)
        kept = prefix_length(self._tokenizer, tokens, self.cut_at)
        while kept and not words_of(self._tokenizer.decode(tokens[kept - 1 : kept])):
            kept -= 1
        return list(tokens[:kept])

    def prefix(self, tokens: list[int]) -> list[int]:
        """The tokens before the second saying, as decoded: the first saying keeps its
        punctuation ("Agent logged in."), and its closing timestamp where one followed it (so
        that the segment is closed); all of `tokens` when nothing is to be cut."""
        if self.cut_at is None:
            return list(tokens)
        kept = prefix_length(self._tokenizer, tokens, self.cut_at)
        special = self._tokenizer.eot  # timestamps are special tokens too
        while kept and tokens[kept - 1] >= special:
            kept -= 1
        if kept < len(tokens) and tokens[kept] > special:
            kept += 1
        return list(tokens[:kept])

    def _scan(self, words: list[str]) -> bool:
        if self.cut_at is not None or (self.inner and self._stop_at_inner):
            return True
        for end in range(max(1, self._checked + 1), len(words) + 1):
            self._checked = end
            if self._run is not None and self._follow(words, end - 1):
                return True
            if self._run is None and end >= 2:
                found = _block_ends_at(words, end)
                self._run = None if found is None else (found, end - found)
        return False

    def _follow(self, words: list[str], newest: int) -> bool:
        """Whether to stop, given the word at `newest` after a block said twice."""
        assert self._run is not None
        second, size = self._run
        if words[newest] != words[newest - size]:  # other words follow: maybe speech
            self._run = None
            self.inner = True
            return self._stop_at_inner
        if newest + 1 >= second + 2 * size:  # said a third time: a loop
            self.cut_at, self.block_words = second, size
            return True
        return False
