"""Echoes: whether a block of words said twice at the end of a short window's decode was heard
twice, or is Whisper saying again what it already heard.

Given a short encoder window (the audio and a second of silence), Whisper often says the whole
utterance again after it ("I'm sorry, that number is not valid. I'm sorry, that number is not
valid. I'm ..."; transcription.py). Where the words were heard tells the two apart: aligned to
the audio (whisper's word timing, timing.py), a second saying that was spoken takes about as
long as the first, while an echo has no audio left to take and is squeezed into the last
frames. Measured on real speech (tiny.en int8; the 194 prompts and recordings of
bench/real_speech.py, 300 ms of silence before and 160 ms after, as a live final's audio
has): of the 20 echoes after a finished sentence, 15 had a second saying aligned to 0-16 % of
the first saying's time and 5 to 21-51 %; the same clips said twice, 0, 100 and 300-900 ms
apart, 40-103 % in all 425 decodes that reached this check (docs/benchmarks.md, issue 14e).
"""

from __future__ import annotations

from voxserve.server.asr.decoding import WindowResult
from voxserve.server.asr.network import CrossCache, WhisperNetwork
from voxserve.server.asr.repeats import prefix_length, words_of
from voxserve.server.asr.timing import find_alignment
from voxserve.server.asr.tokenizer import WhisperTokenizer

# A second saying aligned to less than this share of the first saying's time was not heard.
ECHO_SHARE = 0.2
# An echo follows a finished sentence; a block repeated after a comma or mid-sentence ("has
# joined the conference. Join the conference. Join ...": "the conference join" twice) is
# decoded again padded to 30 s.
SENTENCE_END = (".", "?", "!")


def is_echo(network: WhisperNetwork, cross: CrossCache, tokenizer: WhisperTokenizer,
            prefix: list[int], result: WindowResult, num_frames: int, language: str) -> bool:
    """Whether the repetition cut off `result` (its repeated_end; `result.tokens` are the first
    saying as decoded, with what came before it), decoded from `cross` (the window's first
    `num_frames` mel frames are audio), follows a finished sentence and has a second saying
    that takes less than ECHO_SHARE of the first saying's time.

    `prefix`: the sot sequence and <|notimestamps|>, as for word timing. False when nothing was
    cut, or when the alignment's words do not match the repetition's (nothing is judged then).
    """
    repeated = result.repeated_end
    if repeated is None:
        return False
    if not tokenizer.decode(list(result.tokens)).rstrip().endswith(SENTENCE_END):
        return False
    end = repeated.second_word + repeated.block_words
    text = [t for t in repeated.tokens if t < tokenizer.eot]
    # the two sayings alone: a third would share the second's audio
    text_tokens = text[: prefix_length(tokenizer, text, end)]
    timings = find_alignment(network, cross, tokenizer, prefix, text_tokens, num_frames,
                             language)
    # words_of's words, each with the aligned word it belongs to
    owners = [(word, timing) for timing in timings for word in words_of(timing.word)]
    first = repeated.second_word - repeated.block_words
    if first < 0 or [w for w, _ in owners[:end]] != words_of(tokenizer.decode(text_tokens))[:end]:
        return False
    starts = [timing.start_s for _, timing in owners]
    ends = [timing.end_s for _, timing in owners]
    first_s = ends[repeated.second_word - 1] - starts[first]
    second_s = ends[end - 1] - starts[repeated.second_word]
    return first_s > 0 and second_s < ECHO_SHARE * first_s
