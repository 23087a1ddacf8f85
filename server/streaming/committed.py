"""CommittedWords: the words of an utterance's interims that no later interim revises.

Each interim re-decodes the open utterance from its start, so its text can change anywhere.
A word is committed once two consecutive hypotheses agree on it and on every word before it,
and a later word follows it in the newer one (the last word of a hypothesis may be cut off by
the end of the audio heard so far). Committed words are sent as they were first written and
never change; the rest of the newest hypothesis is the tentative tail. Repetition loops at the
end of a hypothesis (a greedy decoder's failure mode) are cut off before anything is compared,
so they never reach a client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD_CHARS = re.compile(r"[^\w']+")
# A trailing n-gram (n <= 4 words) repeated this many times in a row is a decoding loop;
# single words need one more ("no no no" is speech, "no no no no" rarely is).
LOOP_REPEATS = 3
LOOP_MAX_NGRAM = 4


@dataclass(frozen=True)
class Interim:
    """An interim's words split into the committed ones and the tentative tail."""

    committed: tuple[str, ...]
    tentative: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.committed + self.tentative)


def normalized(word: str) -> str:
    """A word as compared: lower case, punctuation dropped."""
    return _WORD_CHARS.sub("", word.lower())


def without_loop(words: tuple[str, ...]) -> tuple[str, ...]:
    """`words` with a trailing repetition loop cut to its first occurrence."""
    keys = [normalized(w) for w in words]
    for n in range(1, LOOP_MAX_NGRAM + 1):
        needed = LOOP_REPEATS + (1 if n == 1 else 0)
        repeats = 1
        while len(keys) >= (repeats + 1) * n and (
            keys[len(keys) - (repeats + 1) * n : len(keys) - repeats * n] == keys[len(keys) - n :]
        ):
            repeats += 1
        if repeats >= needed:
            return words[: len(words) - (repeats - 1) * n]
    return words


class CommittedWords:
    """One utterance's committed words across its interims: `push()` each hypothesis."""

    def __init__(self) -> None:
        self._committed: tuple[str, ...] = ()
        self._previous: tuple[str, ...] = ()

    @property
    def committed(self) -> tuple[str, ...]:
        return self._committed

    def push(self, text: str) -> Interim:
        """The interim to send for the next hypothesis `text`."""
        words = without_loop(tuple(text.split()))
        keys = [normalized(w) for w in words]
        done = len(self._committed)
        agrees = keys[:done] == [normalized(w) for w in self._committed]
        if agrees:
            previous = [normalized(w) for w in self._previous]
            common = 0
            for before, now in zip(previous, keys, strict=False):
                if before != now:
                    break
                common += 1
            settled = min(common, len(words) - 1)  # a following word vouches for each
            if settled > done:
                self._committed = self._committed + words[done:settled]
        self._previous = words
        return Interim(self._committed, words[len(self._committed):])
