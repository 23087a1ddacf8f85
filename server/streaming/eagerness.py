"""Eagerness: how much silence ends an utterance, judged by whether its text ends a sentence.

When an utterance's speech pauses, its candidate final is decoded (see session.py). A candidate
that ends a sentence (terminal punctuation and no trailing word that needs a continuation, such
as "and" or "the") lets the utterance end sooner than `min_silence_ms`; one that stops
mid-phrase makes it wait longer, so a thinking pause does not cut a sentence in two. The
stream's eagerness says how far each way.
"""

from __future__ import annotations

import enum
import re

# Unvoiced time after which the candidate final is decoded: two WebRTC frames. WebRTC's VAD
# keeps calling speech about 100 ms past the last voiced audio (its hangover), so this is some
# 160 ms of real silence, longer than the stops and plosives inside fluent speech; a pause that
# ends sooner only costs a candidate decode that is dropped. Measured on real speech (issue 14b,
# 4 streams, shared machine, load 3.1-3.5): 60 ms gave last final p50 / p95 0.402 / 0.502 s,
# 90 ms 0.404 / 0.594 s, 150 ms 0.455-0.551 / 0.745-0.795 s, all at WER 4.1-4.6 % (offline
# 4.1 %); at 16 streams 60 ms 0.355 / 0.789 s WER 3.0 % against 150 ms 0.854 / 3.986 s 3.2 %.
CANDIDATE_SILENCE_MS = 60
# Unvoiced time after which a candidate that ends a sentence ends the utterance (BALANCED and
# HIGH): five WebRTC frames. Kept apart from CANDIDATE_SILENCE_MS so that decoding sooner does
# not also end sooner: a 60 ms gap inside a sentence that Whisper punctuates would cut it.
SENTENCE_END_SILENCE_MS = 150
_TERMINAL = (".", "?", "!")
# Words after which a sentence cannot end: articles, prepositions, conjunctions, possessives
# and auxiliaries. Whisper writes a period at any pause, so punctuation alone would cut there.
CONTINUATIONS = frozenset(
    "a an the and or but nor so because since although though if unless until while whereas "
    "that which who whose whom to of in on at by for with from into onto about over under "
    "than as my your his her its our their this these those is are was were be been am "
    "will would shall should can could may might must do does did have has had not very "
    "i we you he she they it".split()
)
_WORD = re.compile(r"[^\w']+")


class Eagerness(str, enum.Enum):
    """How soon an utterance ends after speech stops (per stream; BALANCED by default)."""

    LOW = "low"  # a finished sentence ends at min_silence_ms; a mid-phrase stop waits double
    BALANCED = "balanced"  # finished: candidate decoded and 150 ms unvoiced; mid-phrase: 1 s+
    HIGH = "high"  # finished: candidate decoded and 150 ms unvoiced; mid-phrase: min_silence


# (silence for a finished sentence, silence for a stop mid-phrase), milliseconds, as functions
# of the stream's min_silence_ms: a finished sentence never waits longer than min_silence_ms
# and a mid-phrase stop never shorter.
# BALANCED ends a finished sentence as soon as its candidate says so; the sentence check is the
# guard against cutting off a speaker who goes on. A fixed 200 ms wait instead was measured on
# real speech (issue 14, 4 streams, int8, shared machine): 0.379 / 0.659 s p50 / p95 and WER
# 4.1 % against 0.402 / 0.545 s and 4.6 % (2 words in about 420), differences of the size that
# the machine's load moves from run to run.
_COMPLETE_MS = {Eagerness.LOW: None, Eagerness.BALANCED: SENTENCE_END_SILENCE_MS,
                Eagerness.HIGH: SENTENCE_END_SILENCE_MS}
_MID_PHRASE_MS = {Eagerness.LOW: 2, Eagerness.BALANCED: 1000, Eagerness.HIGH: None}
MAX_SILENCE_MS = 10000  # the top of min_silence_ms's range (settings.py)


def ends_sentence(text: str) -> bool:
    """True when `text` ends like a finished sentence: terminal punctuation (not an ellipsis)
    after a word that does not need a continuation."""
    stripped = text.rstrip().rstrip("\"')]")
    if not stripped.endswith(_TERMINAL) or stripped.endswith(".."):
        return False
    words = [w for w in (_WORD.sub("", word.lower()) for word in stripped.split()) if w]
    return bool(words) and words[-1] not in CONTINUATIONS


def silence_ms(text: str, eagerness: Eagerness, min_silence_ms: int) -> int:
    """The unvoiced time, in milliseconds, that ends an utterance whose candidate is `text`."""
    if ends_sentence(text):
        complete = _COMPLETE_MS[eagerness]
        return min_silence_ms if complete is None else min(min_silence_ms, complete)
    if not text.strip():  # nothing recognised yet: no reason to move the endpoint
        return min_silence_ms
    if eagerness is Eagerness.LOW:
        return min(MAX_SILENCE_MS, 2 * min_silence_ms)
    mid_phrase = _MID_PHRASE_MS[eagerness]
    return min_silence_ms if mid_phrase is None else max(min_silence_ms, mid_phrase)
