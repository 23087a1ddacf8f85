"""Word timestamps: DTW over the alignment heads' cross-attention (openai-whisper's timing.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxserve.server.asr.decoding import log_softmax
from voxserve.server.asr.network import CrossCache, WhisperNetwork
from voxserve.server.asr.segments import DraftSegment
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.asr.types import Word

_MEDFILT_WIDTH = 7  # whisper's median filter over attention frames
_TOKENS_PER_S = 50  # one encoder position = 20 ms
_PREPEND_PUNCTUATION = "\"'“¿([{-"
_APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
_SENTENCE_END_MARKS = ".。!！?？"


@dataclass
class WordTiming:
    """One word of the alignment, while punctuation is merged and bounds are fixed."""

    word: str
    tokens: list[int]
    start_s: float
    end_s: float
    probability: float


def median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median over a sliding window along the last axis, reflect-padded (odd width)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    widths = [(0, 0)] * (x.ndim - 1) + [(pad, pad)]
    padded = np.pad(x, widths, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1)
    return np.sort(windows, axis=-1)[..., pad]


def dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic minimum-cost path through x [n, m] (rows, columns), whisper's tie-breaking.

    Cells on one anti-diagonal depend only on the two before it, so each diagonal is one
    vectorised step.
    """
    n, m = x.shape
    cost = np.full((n + 1, m + 1), np.inf, dtype=np.float32)
    cost[0, 0] = 0.0
    trace = np.full((n + 1, m + 1), -1, dtype=np.int8)
    for k in range(2, n + m + 1):
        i = np.arange(max(1, k - m), min(n, k - 1) + 1)
        j = k - i
        c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
        step = np.where((c0 < c1) & (c0 < c2), 0, np.where((c1 < c0) & (c1 < c2), 1, 2))
        cost[i, j] = x[i - 1, j - 1] + np.choose(step, [c0, c1, c2])
        trace[i, j] = step
    return _backtrace(trace)


def _backtrace(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = trace.shape[0] - 1, trace.shape[1] - 1
    trace[0, :] = 2
    trace[:, 0] = 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = trace[i, j]
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    result = np.array(path[::-1])
    return result[:, 0], result[:, 1]


def attention_matrix(attn: np.ndarray, num_frames: int) -> np.ndarray:
    """Alignment-head attention [heads, tokens, positions] -> normalised, filtered [tokens, n/2]."""
    weights = attn[:, :, : num_frames // 2].astype(np.float32)
    # renormalise over the real audio: the same as whisper's softmax over the sliced logits
    weights = weights / np.maximum(weights.sum(axis=-1, keepdims=True), 1e-20)
    mean = weights.mean(axis=-2, keepdims=True)
    std = weights.std(axis=-2, keepdims=True)
    weights = (weights - mean) / np.maximum(std, 1e-20)
    return median_filter(weights, _MEDFILT_WIDTH).mean(axis=0)


def find_alignment(network: WhisperNetwork, cross: CrossCache, tokenizer: WhisperTokenizer,
                   prefix: list[int], text_tokens: list[int], num_frames: int,
                   language: str) -> list[WordTiming]:
    """Word start/end times (window-relative) and probabilities for `text_tokens`.

    `prefix` is the sot sequence followed by <|notimestamps|>.
    """
    if not text_tokens:
        return []
    eot = tokenizer.eot
    logits, attn = network.attend(prefix + text_tokens + [eot], cross)
    sampled = log_softmax(logits[len(prefix) - 1 :, :eot])
    token_probs = np.exp(sampled[np.arange(len(text_tokens)), text_tokens])
    matrix = attention_matrix(attn, num_frames)[len(prefix) - 1 : -1]
    text_indices, time_indices = dtw(-matrix.astype(np.float64))

    words, word_tokens = tokenizer.split_to_word_tokens(text_tokens + [eot], language)
    if len(word_tokens) <= 1:
        return []
    boundaries = np.pad(np.cumsum([len(t) for t in word_tokens[:-1]]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] / _TOKENS_PER_S
    starts = jump_times[boundaries[:-1]]
    ends = jump_times[boundaries[1:]]
    return [
        WordTiming(word, tokens, float(start), float(end), float(np.mean(token_probs[i:j])))
        for word, tokens, start, end, i, j in zip(
            words[:-1], word_tokens[:-1], starts, ends, boundaries[:-1], boundaries[1:],
            strict=True,
        )
    ]


def merge_punctuations(alignment: list[WordTiming]) -> None:
    """Attach opening punctuation to the next word and closing punctuation to the previous."""
    i, j = len(alignment) - 2, len(alignment) - 1
    while i >= 0:
        previous, following = alignment[i], alignment[j]
        if previous.word.startswith(" ") and previous.word.strip() in _PREPEND_PUNCTUATION:
            following.word = previous.word + following.word
            following.tokens = previous.tokens + following.tokens
            previous.word, previous.tokens = "", []
        else:
            j = i
        i -= 1
    i, j = 0, 1
    while j < len(alignment):
        previous, following = alignment[i], alignment[j]
        if not previous.word.endswith(" ") and following.word in _APPEND_PUNCTUATION:
            previous.word = previous.word + following.word
            previous.tokens = previous.tokens + following.tokens
            following.word, following.tokens = "", []
        else:
            i = j
        j += 1


def _clip_long_words(alignment: list[WordTiming]) -> tuple[float, float]:
    """Cap words at sentence ends to twice the median duration; returns (median, max)."""
    durations = np.array([w.end_s - w.start_s for w in alignment])
    durations = durations[durations.nonzero()]
    median = min(0.7, float(np.median(durations))) if len(durations) else 0.0
    longest = median * 2
    if len(durations):
        for i in range(1, len(alignment)):
            if alignment[i].end_s - alignment[i].start_s > longest:
                if alignment[i].word in _SENTENCE_END_MARKS:
                    alignment[i].end_s = alignment[i].start_s + longest
                elif alignment[i - 1].word in _SENTENCE_END_MARKS:
                    alignment[i].start_s = alignment[i].end_s - longest
    return median, longest


def add_word_timestamps(segments: list[DraftSegment], alignment: list[WordTiming],
                        offset_s: float, eot: int, last_speech_s: float) -> float:
    """Give each segment its words and snap its bounds to them (whisper's add_word_timestamps).

    Returns the end of the last word, the new `last_speech_s`.
    """
    median, longest = _clip_long_words(alignment)
    merge_punctuations(alignment)
    index = 0
    for segment in segments:
        n_text = sum(1 for t in segment.tokens if t < eot)
        saved = 0
        words: list[WordTiming] = []
        while index < len(alignment) and saved < n_text:
            timing = alignment[index]
            if timing.word:
                start = round(offset_s + timing.start_s, 2)
                end = round(offset_s + timing.end_s, 2)
                words.append(WordTiming(timing.word, timing.tokens, start, end, timing.probability))
            saved += len(timing.tokens)
            index += 1
        if words:
            _fit_segment_bounds(segment, words, median, longest, last_speech_s)
            last_speech_s = segment.end_s
        segment.words = [Word(w.word, w.start_s, w.end_s, w.probability) for w in words]
    return last_speech_s


def _fit_segment_bounds(segment: DraftSegment, words: list[WordTiming], median: float,
                        longest: float, last_speech_s: float) -> None:
    """Trim over-long first/last words after pauses, then make segment and word bounds agree."""
    first, last = words[0], words[-1]
    if first.end_s - last_speech_s > median * 4 and (
        first.end_s - first.start_s > longest
        or (len(words) > 1 and words[1].end_s - first.start_s > longest * 2)
    ):
        if len(words) > 1 and words[1].end_s - words[1].start_s > longest:
            boundary = max(words[1].end_s / 2, words[1].end_s - longest)
            first.end_s = words[1].start_s = boundary
        first.start_s = max(0.0, first.end_s - longest)
    if segment.start_s < first.end_s and segment.start_s - 0.5 > first.start_s:
        first.start_s = max(0.0, min(first.end_s - median, segment.start_s))
    else:
        segment.start_s = first.start_s
    if segment.end_s > last.start_s and segment.end_s + 0.5 < last.end_s:
        last.end_s = max(last.start_s + median, segment.end_s)
    else:
        segment.end_s = last.end_s
