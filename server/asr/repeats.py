"""Repeated blocks: a block of words said twice in a row, found in decoded text and cut off.

Short encoder windows invent such blocks ("Please enter in New York. Please enter in New
York. ...", issue #11). A final decodes such a window again padded to 30 s (transcription.py);
an interim, which a newer interim or the final soon replaces, stops decoding at the first
repeated block instead and keeps only the words before its second saying (RepeatCut).
"""

from __future__ import annotations

import re

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


class RepeatCut:
    """Watches a decode's tokens as they come: `push()` says when a repeated block is complete;
    `cut()` gives the tokens before its second saying.

    Only words followed by another word count while decoding (the newest may still grow:
    " Tom" + "orrow"), so each check looks only at blocks ending at newly completed words.
    """

    def __init__(self, tokenizer: WhisperTokenizer) -> None:
        self._tokenizer = tokenizer
        self._checked = 0  # complete words already checked for a block ending at them
        self.repeat_at: int | None = None  # word index of the first repeated block's 2nd saying

    def push(self, tokens: list[int]) -> bool:
        """Whether `tokens` (all sampled so far) hold a repeated block among complete words."""
        return self._scan(words_of(self._tokenizer.decode(tokens))[:-1])

    def finish(self, tokens: list[int]) -> bool:
        """Whether `tokens`, the whole decode, hold a repeated block (the last word counts)."""
        return self._scan(words_of(self._tokenizer.decode(tokens)))

    def cut(self, tokens: list[int]) -> list[int]:
        """The longest prefix of `tokens` whose text holds no more words than come before the
        repeat's second saying, less the punctuation that led into it ("Please," of "Please,
        please, please"); all of `tokens` when no repeat was found."""
        if self.repeat_at is None:
            return list(tokens)
        kept = 0
        for end in range(1, len(tokens) + 1):
            if len(words_of(self._tokenizer.decode(tokens[:end]))) > self.repeat_at:
                break
            kept = end
        while kept and not words_of(self._tokenizer.decode(tokens[kept - 1 : kept])):
            kept -= 1
        return list(tokens[:kept])

    def _scan(self, words: list[str]) -> bool:
        if self.repeat_at is not None:
            return True
        for end in range(max(2, self._checked + 1), len(words) + 1):
            self.repeat_at = _block_ends_at(words, end)
            if self.repeat_at is not None:
                return True
        self._checked = max(self._checked, len(words))
        return False
