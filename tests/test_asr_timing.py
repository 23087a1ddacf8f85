"""Word timing pieces: DTW, median filter, attention normalisation and punctuation merging."""

import numpy as np
import torch

from voxserve.server.asr.segments import DraftSegment
from voxserve.server.asr.timing import (
    WordTiming,
    add_word_timestamps,
    attention_matrix,
    dtw,
    median_filter,
    merge_punctuations,
)


def reference_dtw(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """openai-whisper's dtw_cpu + backtrace, cell by cell."""
    n, m = x.shape
    cost = np.ones((n + 1, m + 1), dtype=np.float32) * np.inf
    trace = -np.ones((n + 1, m + 1), dtype=np.float32)
    cost[0, 0] = 0
    for j in range(1, m + 1):
        for i in range(1, n + 1):
            c0, c1, c2 = cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1]
            if c0 < c1 and c0 < c2:
                c, t = c0, 0
            elif c1 < c0 and c1 < c2:
                c, t = c1, 1
            else:
                c, t = c2, 2
            cost[i, j] = x[i - 1, j - 1] + c
            trace[i, j] = t
    i, j = n, m
    trace[0, :] = 2
    trace[:, 0] = 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        if trace[i, j] == 0:
            i, j = i - 1, j - 1
        elif trace[i, j] == 1:
            i -= 1
        else:
            j -= 1
    result = np.array(path)[::-1, :].T
    return result[0], result[1]


def test_dtw_matches_whisper_reference() -> None:
    rng = np.random.default_rng(3)
    for n, m in [(1, 1), (1, 9), (7, 1), (5, 40), (23, 150)]:
        x = rng.standard_normal((n, m))
        ours = dtw(x)
        ref = reference_dtw(x)
        np.testing.assert_array_equal(ours[0], ref[0])
        np.testing.assert_array_equal(ours[1], ref[1])
    # ties (a constant matrix) follow whisper's preference order too
    flat = np.zeros((4, 6))
    np.testing.assert_array_equal(np.stack(dtw(flat)), np.stack(reference_dtw(flat)))


def test_dtw_follows_a_diagonal_of_low_cost() -> None:
    x = np.ones((4, 8))
    for i in range(4):
        x[i, 2 * i : 2 * i + 2] = -1.0
    rows, cols = dtw(x)
    assert rows.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert cols.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_median_filter_matches_whisper() -> None:
    x = np.random.default_rng(1).standard_normal((3, 5, 30)).astype(np.float32)
    padded = torch.nn.functional.pad(torch.from_numpy(x), (3, 3, 0, 0), mode="reflect")
    reference = padded.unfold(-1, 7, 1).sort()[0][..., 3].numpy()
    np.testing.assert_array_equal(median_filter(x, 7), reference)
    short = x[..., :3]
    np.testing.assert_array_equal(median_filter(short, 7), short)


def test_attention_matrix_renormalises_over_real_frames() -> None:
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 6, 20)).astype(np.float32)  # heads, tokens, positions
    full = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    # whisper: softmax over the first num_frames / 2 positions of the QK logits
    sliced = torch.from_numpy(logits[:, :, :12]).softmax(-1)
    std, mean = torch.std_mean(sliced, dim=-2, keepdim=True, unbiased=False)
    normed = ((sliced - mean) / std).numpy()
    expected = median_filter(normed, 7).mean(axis=0)
    np.testing.assert_allclose(attention_matrix(full, 24), expected, atol=1e-5)


def timing(word: str, start: float, end: float, tokens: list[int] | None = None) -> WordTiming:
    return WordTiming(word, tokens or [len(word)], start, end, 0.9)


def test_merge_punctuations() -> None:
    words = [timing(" \"", 0.0, 0.1), timing(" Hello", 0.1, 0.5), timing(",", 0.5, 0.5),
             timing(" world", 0.6, 1.0), timing(".", 1.0, 1.1)]
    merge_punctuations(words)
    assert [w.word for w in words] == ["", " \" Hello,", "", " world.", ""]
    assert words[1].tokens == [2, 6, 1]


def test_add_word_timestamps_fills_segments_and_snaps_bounds() -> None:
    eot = 1000
    segments = [DraftSegment(10.0, 11.0, [2000, 1, 2, 2050]),
                DraftSegment(11.0, 12.0, [2050, 3, 4, 2100])]
    alignment = [timing(" one", 0.1, 0.5, [1]), timing(" two", 0.5, 0.9, [2]),
                 timing(" three", 1.1, 1.5, [3]), timing(" four", 1.5, 1.9, [4])]
    last = add_word_timestamps(segments, alignment, offset_s=10.0, eot=eot, last_speech_s=9.0)
    assert [[(w.word, w.start_s, w.end_s) for w in s.words] for s in segments] == [
        [(" one", 10.1, 10.5), (" two", 10.5, 10.9)],
        [(" three", 11.1, 11.5), (" four", 11.5, 11.9)],
    ]
    assert [(s.start_s, s.end_s) for s in segments] == [(10.1, 10.9), (11.1, 11.9)]
    assert last == 11.9
