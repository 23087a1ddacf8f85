"""Greedy decoding rules: suppression, Whisper's timestamp grammar, token budget, segment cuts."""

import numpy as np
import pytest

from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.contract import tensor_names
from voxserve.server.asr.decoding import (
    GreedyDecoder,
    LogitRules,
    WindowRequest,
    compression_ratio,
    log_softmax,
    logsumexp,
    max_tokens_for,
)
from voxserve.server.asr.repeats import (
    RepeatCut,
    first_repeat,
    has_loop_or_echo,
    has_repeated_words,
    words_of,
)
from voxserve.server.asr.segments import split_window
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.errors import ModelLoadError

# A toy vocabulary: text 0..19, then the specials, then 1501 timestamps (0.00 .. 30.00 s).
EOT, SOT, NO_TS, TS = 20, 21, 26, 30
N_VOCAB = TS + 1501


def toy_config(**overrides: object) -> WhisperConfig:
    manifest = {
        "name": "toy",
        "language_codes": ["en"],
        "sample_rate_hz": 16000,
        "whisper": {
            "dims": {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 8, "n_audio_head": 2,
                     "n_audio_layer": 1, "n_vocab": N_VOCAB, "n_text_ctx": 448,
                     "n_text_state": 8, "n_text_head": 2, "n_text_layer": 2},
            "multilingual": False,
            "special_tokens": {"eot": EOT, "sot": SOT, "translate": 22, "transcribe": 23,
                               "sot_lm": 24, "sot_prev": 25, "no_timestamps": NO_TS,
                               "no_speech": 27, "timestamp_begin": TS},
            "suppress_tokens": [3, SOT, 22, 23, 24, 25, 27, 28, 29],
            "suppress_tokens_at_begin": [5, EOT],
            "alignment_heads": [[1, 0], [1, 1]],
            "tensor_names": tensor_names(),
            **overrides,
        },
    }
    return WhisperConfig.from_manifest(manifest)


def request(content_frames: int = 3000, without_timestamps: bool = False) -> WindowRequest:
    return WindowRequest(sot_sequence=(SOT,), content_frames=content_frames,
                         without_timestamps=without_timestamps, max_initial_timestamp_s=1.0)


def allowed(rules: LogitRules, sampled: list[int], logits: np.ndarray | None = None) -> set[int]:
    if logits is None:  # text favoured, so the timestamp-mass rule leaves text alone
        logits = np.zeros(N_VOCAB, dtype=np.float32)
        logits[:TS] = 10.0
    row = logits.copy()
    rules.apply(row, sampled)
    return set(np.flatnonzero(np.isfinite(row)).tolist())


def test_first_token_is_an_early_timestamp() -> None:
    rules = LogitRules(toy_config(), request())
    # max_initial_timestamp 1.0 s = 50 steps of 20 ms
    assert allowed(rules, []) == set(range(TS, TS + 51))


def test_text_after_a_closed_pair_and_after_the_first_timestamp() -> None:
    rules = LogitRules(toy_config(), request())
    # text and eot; never suppressed ids or <|notimestamps|>
    text = set(range(EOT + 1)) - {3}
    # after <|0.00|> (a lone first timestamp: the penultimate counts as a timestamp) -> text
    assert allowed(rules, [TS]) == text
    # after text: text, eot, or a timestamp after the last one (a segment has nonzero length)
    after_text = allowed(rules, [TS, 7])
    assert after_text == text | set(range(TS + 1, N_VOCAB))
    # an open timestamp <|1.00|> after text must be closed: a later timestamp or eot
    closing = allowed(rules, [TS, 7, TS + 50])
    assert closing == {EOT} | set(range(TS + 50, N_VOCAB))
    # a closed pair: text next, and the next timestamp must move forward
    assert allowed(rules, [TS, 7, TS + 50, TS + 50]) == text


def test_timestamps_past_the_audio_are_masked() -> None:
    rules = LogitRules(toy_config(), request(content_frames=301))  # 3.01 s -> up to <|3.02|>
    after_text = allowed(rules, [TS, 7])
    assert max(after_text) == TS + 151


def test_timestamp_mass_beats_the_best_text_token() -> None:
    rules = LogitRules(toy_config(), request(content_frames=200))
    logits = np.full(N_VOCAB, -30.0, dtype=np.float32)
    logits[7] = 2.0  # best single token is text ...
    logits[TS + 10 : TS + 60] = 0.5  # ... but 50 timestamps together are more probable
    # every token below timestamp_begin (eot too) is masked; <|0.00|> was already used
    assert allowed(rules, [TS, 8], logits) == set(range(TS + 1, TS + 101))
    logits[TS + 10 : TS + 60] = -5.0
    assert 7 in allowed(rules, [TS, 8], logits)


def test_without_timestamps_masks_all_timestamps() -> None:
    rules = LogitRules(toy_config(), request(without_timestamps=True))
    # whisper's suppress list leaves <|notimestamps|> alone
    assert allowed(rules, []) == set(range(EOT)) - {3, 5} | {NO_TS}
    assert allowed(rules, [7]) == set(range(EOT + 1)) - {3} | {NO_TS}


def greedy(logit_rows: list[np.ndarray], max_tokens: int = 224) -> GreedyDecoder:
    decoder = GreedyDecoder(LogitRules(toy_config(), request(without_timestamps=True)), EOT,
                            max_tokens, temperature=0.0, seed=0)
    for row in logit_rows:
        if decoder.push(row) is None:
            break
    return decoder


def one_hot(token: int) -> np.ndarray:
    row = np.zeros(N_VOCAB, dtype=np.float32)
    row[token] = 10.0
    return row


# each step: log(e^10 / (e^10 + n_allowed_others)) with every other allowed logit at 0
FIRST_LOGPROB = -np.log1p((len(set(range(EOT)) - {3, 5} | {NO_TS}) - 1) * np.exp(-10.0))
LATER_LOGPROB = -np.log1p((len(set(range(EOT + 1)) - {3} | {NO_TS}) - 1) * np.exp(-10.0))


def test_greedy_picks_argmax_and_sums_logprobs() -> None:
    decoder = greedy([one_hot(7), one_hot(8), one_hot(EOT)])
    assert decoder.tokens == [7, 8]
    assert not decoder.looped
    assert decoder.sum_logprob == pytest.approx(FIRST_LOGPROB + 2 * LATER_LOGPROB, rel=1e-6)


def test_repeated_text_is_kept() -> None:
    # people repeat themselves: "A B C D. A B C D." said twice is decoded twice; a decoding loop
    # is the caller's to judge (compression ratio, log probability: temperature fallback)
    phrase = [7, 8, 9, 10]
    decoder = greedy([one_hot(t) for t in [1, 2] + phrase * 5 + [EOT]])
    assert not decoder.looped
    assert decoder.tokens == [1, 2] + phrase * 5
    assert decoder.sum_logprob == pytest.approx(FIRST_LOGPROB + 22 * LATER_LOGPROB, rel=1e-6)


def test_token_budget_stops_decoding() -> None:
    decoder = greedy([one_hot(t) for t in [1, 2, 4, 6, 7, 8, 9]], max_tokens=4)
    assert decoder.tokens == [1, 2, 4, 6]
    assert decoder.looped


def test_token_budget_grows_with_audio_length() -> None:
    config = toy_config()
    assert max_tokens_for(100, config) == 28  # 1 s: 16 + 12
    assert max_tokens_for(1000, config) == 136
    assert max_tokens_for(3000, config) == 224  # whisper's cap: n_text_ctx / 2


def test_compression_ratio_flags_repetition() -> None:
    assert compression_ratio("") == 0.0
    assert compression_ratio("Thank you. " * 20) > 2.4
    assert compression_ratio("The quick brown fox jumps over the lazy dog.") < 2.4


def test_repeated_words_are_found_at_any_length() -> None:
    # a short window's result with any of these is decoded again on the full 30 s window
    assert has_repeated_words("Agent, agent.")
    assert has_repeated_words("Comedian Mail. Mailbox. Mailbox.")
    sentence = "He began a confused complaint against the wizard, who had vanished behind the " \
        "curtain on the left."
    assert has_repeated_words(f"{sentence} {sentence}")
    assert not has_repeated_words(sentence)
    assert not has_repeated_words("Press 1 to record, press 2 to listen.")
    assert not has_repeated_words("")


def test_loops_and_echoes_are_told_from_speech_said_twice() -> None:
    assert has_loop_or_echo("Please, please, please enter")  # three times: a loop
    assert has_loop_or_echo("Agent logged in. Agent logged in.")  # twice at the end: an echo
    assert not has_loop_or_echo("No, no, thanks.")  # twice, then other words
    assert not has_loop_or_echo("visit www.www.org")
    assert not has_loop_or_echo("")


def test_first_repeat_is_where_the_earliest_ending_block_is_said_again() -> None:
    assert first_repeat(words_of("a b c b c d")) == 3
    assert first_repeat(words_of("Please, please, please")) == 1
    # "x y x y" ends (at word 4) before "z z" would (at word 6)
    assert first_repeat(words_of("x y x y z z")) == 2
    assert first_repeat(words_of("Press 1 to record, press 2 to listen.")) is None
    assert first_repeat([]) is None


# A toy vocabulary of whole words, spaces leading as in Whisper's BPE.
TOY_WORDS = {0: b" Please", 1: b" enter", 2: b" in", 3: b" New", 4: b" York", 5: b".",
             6: b",", 7: b" Tom", 8: b"orrow", 9: b" please"}


def watch_decode(tokens: list[int], stop_at_inner: bool = False) -> tuple[int, RepeatCut]:
    """How many of `tokens` a tentative decode samples before it stops, and its watch."""
    watch = RepeatCut(WhisperTokenizer(TOY_WORDS, {}, EOT), stop_at_inner)
    for count in range(1, len(tokens) + 1):
        if watch.push(tokens[:count]):
            watch.finish(tokens[:count])
            return count, watch
    watch.finish(tokens)
    return len(tokens), watch


def test_a_loop_stops_the_decode_at_its_third_saying() -> None:
    sentence = [0, 1, 2, 3, 4, 5]  # " Please enter in New York."
    loop = sentence * 4
    sampled, watch = watch_decode(loop)
    # stopped once the word after the third "York" began: three sayings and one token
    assert sampled == 3 * len(sentence) + 1
    assert watch.cut(loop[:sampled]) == [0, 1, 2, 3, 4]  # the first saying, less its "."
    assert not watch.inner


def test_the_cut_keeps_no_punctuation_that_led_into_the_loop() -> None:
    tokens = [0, 6, 9, 6, 9, 6]  # " Please, please, please,"
    _, watch = watch_decode(tokens)
    assert watch.cut(tokens) == [0]


def test_a_block_said_twice_at_the_end_is_cut() -> None:
    # " enter in enter in": a short window's echo (or speech said twice: the final keeps it)
    sampled, watch = watch_decode([1, 2, 1, 2])
    assert (sampled, watch.cut_at) == (4, 2)
    assert watch.cut([1, 2, 1, 2]) == [1, 2]


def test_a_final_keeps_the_first_saying_as_decoded() -> None:
    # "<0.00> Please enter in New York.<2.00><2.00> Please enter in New York.<2.04>": a short
    # window's echo in a final's timestamped decode; the final keeps the first saying with its
    # "." and its closing timestamp, so the segment stays closed, and not the second's opening
    sentence = [0, 1, 2, 3, 4, 5]
    tokens = [TS, *sentence, TS + 100, TS + 100, *sentence, TS + 102]
    _, watch = watch_decode(tokens)
    assert (watch.cut_at, watch.block_words) == (5, 5)
    assert watch.prefix(tokens) == [TS, *sentence, TS + 100]
    # the echo inside one segment: the first saying, its "." kept
    tokens = [TS, *sentence, *sentence]
    _, watch = watch_decode(tokens)
    assert watch.prefix(tokens) == [TS, *sentence]
    assert watch.cut(tokens) == [TS, 0, 1, 2, 3, 4]


def test_a_block_said_twice_then_other_words_is_kept_or_stops_the_fast_path() -> None:
    tokens = [0, 1, 0, 1, 3, 4, 5]  # " Please enter Please enter New York."
    sampled, watch = watch_decode(tokens)
    assert (sampled, watch.cut_at, watch.inner) == (7, None, True)
    assert watch.cut(tokens) == tokens  # maybe speech said twice: nothing is cut
    # on a short window's fast path the decode stops once "New" is complete, to be decoded
    # again padded to 30 s
    sampled, watch = watch_decode(tokens, stop_at_inner=True)
    assert (sampled, watch.cut_at, watch.inner) == (6, None, True)


def test_a_loop_after_a_kept_repetition_is_still_cut() -> None:
    tokens = [0, 0, 1, 2, 2, 2, 2]  # " Please Please enter in in in in"
    sampled, watch = watch_decode(tokens)
    assert watch.inner and watch.cut_at == 4
    assert watch.cut(tokens[:sampled]) == [0, 0, 1, 2]


def test_a_word_still_growing_is_not_judged_until_the_next_one() -> None:
    # " Tom" then " Tom" + "orrow": the second "Tom" was not a repeat
    sampled, watch = watch_decode([7, 7, 8])
    assert (sampled, watch.cut_at, watch.inner) == (3, None, False)
    assert watch.cut([7, 7, 8]) == [7, 7, 8]


def test_bad_manifest_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="alignment head"):
        toy_config(alignment_heads=[[5, 0]])
    with pytest.raises(ModelLoadError, match="bad whisper manifest"):
        WhisperConfig.from_manifest({"name": "x", "whisper": {}})


def test_manifest_tensor_names_must_match_the_contract() -> None:
    names = tensor_names()
    names["decoder"]["outputs"] = ["logits", "k", "v", "cross_attn"]
    with pytest.raises(ModelLoadError, match=r"model toy: the graphs' tensor names differ from "
                       r"the engine's contract: decoder.outputs: \['logits', 'k', 'v', "
                       r"'cross_attn'\] \(expected \['logits', 'new_self_k'"):
        toy_config(tensor_names=names)
    with pytest.raises(ModelLoadError, match="model toy: manifest's whisper.tensor_names is "
                       "missing"):
        toy_config(tensor_names=None)


def test_split_window_on_timestamp_pairs() -> None:
    tokens = [TS, 7, 8, TS + 100, TS + 100, 9, TS + 180, TS + 200, 4]
    split = split_window(tokens, TS, seek=500, segment_frames=3000)
    assert [(s.start_s, s.end_s, s.tokens) for s in split.segments] == [
        (5.0, 7.0, [TS, 7, 8, TS + 100]),
        (7.0, 8.6, [TS + 100, 9, TS + 180]),
    ]
    # <|3.60|><|4.00|> closes a third, empty segment; the unfinished one after it is dropped
    # and decoding resumes at the last complete segment end <|3.60|>: frame 500 + 360
    assert split.next_seek == 860
    assert not split.single_timestamp_ending


def test_split_window_single_timestamp_ending_consumes_the_window() -> None:
    tokens = [TS, 7, TS + 50, TS + 50, 8, TS + 120]
    split = split_window(tokens, TS, seek=0, segment_frames=2000)
    assert [(s.start_s, s.end_s) for s in split.segments] == [(0.0, 1.0), (1.0, 2.4)]
    assert split.single_timestamp_ending
    assert split.next_seek == 2000


def test_split_window_without_pairs_is_one_segment() -> None:
    split = split_window([7, 8, 9], TS, seek=3000, segment_frames=1200)
    assert [(s.start_s, s.end_s, s.tokens) for s in split.segments] == [(30.0, 42.0, [7, 8, 9])]
    assert split.next_seek == 4200
    split = split_window([TS, 7, 8, TS + 75], TS, seek=0, segment_frames=1200)
    assert [(s.start_s, s.end_s) for s in split.segments] == [(0.0, 1.5)]


def test_split_window_resumes_after_the_last_complete_segment() -> None:
    # the last window of the audio, stopped inside a segment (its token budget, a loop): the
    # unfinished segment is dropped and decoding resumes at its start, never at the window's end
    split = split_window([TS, 7, TS + 50, TS + 50, 8, 9], TS, seek=100, segment_frames=271)
    assert [(s.start_s, s.end_s, s.tokens) for s in split.segments] == [
        (1.0, 2.0, [TS, 7, TS + 50])]
    assert split.next_seek == 200
    # a window that ends on a closed pair resumes at that pair's end
    split = split_window([TS, 7, TS + 100, TS + 100], TS, seek=0, segment_frames=271)
    assert [(s.start_s, s.end_s) for s in split.segments] == [(0.0, 2.0)]
    assert split.next_seek == 200


def test_logsumexp_matches_the_log_softmax_normalizer() -> None:
    assert logsumexp(np.zeros(4, dtype=np.float32)) == pytest.approx(np.log(4.0), rel=1e-12)
    assert logsumexp(np.array([2.0, -np.inf], dtype=np.float32)) == 2.0
    assert logsumexp(np.full(3, -np.inf, dtype=np.float32)) == -np.inf
    rng = np.random.default_rng(3)
    row = rng.normal(0.0, 4.0, 51864).astype(np.float32)
    row[rng.integers(0, 51864, 500)] = -np.inf  # masked tokens
    token = int(np.argmax(row))
    assert float(row[token]) - logsumexp(row) == pytest.approx(
        float(log_softmax(row)[token]), rel=1e-6, abs=1e-9)


def test_a_dominant_tokens_logprob_keeps_its_precision() -> None:
    # e^10 against 1000 others at 0: log p = -log1p(1000 e^-10), about -0.0454
    row = np.zeros(1001, dtype=np.float32)
    row[0] = 10.0
    assert 10.0 - logsumexp(row) == pytest.approx(-np.log1p(1000 * np.exp(-10.0)), rel=1e-6)
