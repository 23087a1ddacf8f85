"""Greedy decoding of one audio window: Whisper's logit rules, KV-cached steps, a token budget."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.features import FRAMES_PER_SECOND
from voxserve.server.asr.network import CrossCache, DecoderOutput, WhisperNetwork
from voxserve.server.asr.repeats import RepeatCut, RepeatedEnd
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.stop import StopSignal, check_stop

TIME_PRECISION_S = 0.02  # one encoder position = two 10 ms mel frames
# A window may sample at most this many tokens per second of audio it holds (plus a base):
# fast English runs near 4 words/s, about 6 tokens/s with timestamps; the slack covers more.
# A window that reaches it is a loop (whisper's own cap, 224 tokens, takes seconds to reach).
_MAX_TOKENS_PER_S = 12.0
_MAX_TOKENS_BASE = 16


@dataclass(frozen=True)
class WindowRequest:
    """What to decode in one window."""

    sot_sequence: tuple[int, ...]
    content_frames: int  # mel frames of real audio in the window (the rest is padding)
    without_timestamps: bool
    max_initial_timestamp_s: float
    temperature: float = 0.0
    seed: int = 0
    # text tokens of the windows before, given after <|startofprev|> (whisper's
    # condition_on_previous_text); empty: no prompt
    prompt: tuple[int, ...] = ()
    # Cut a loop, or a block of words said twice at the end, before its second saying
    # (repeats.py): tentative text (interims) as it is, less the punctuation that led into the
    # repetition; with keep_first_saying (a final's short window, whose caller then checks
    # that the second saying was an echo) the first saying as decoded, punctuation and closing
    # timestamp included. A block said twice and followed by other words is kept, or with
    # stop_at_inner_repeat ends the decode for the caller to decode the window again padded to
    # 30 s (a short window's fast path).
    cut_repeats: bool = False
    stop_at_inner_repeat: bool = False
    keep_first_saying: bool = False


@dataclass(frozen=True)
class WindowResult:
    """Sampled tokens of one window (no sot sequence, no eot) and their scores."""

    tokens: tuple[int, ...]
    avg_logprob: float  # of the tokens and the closing eot (whisper's window score)
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    looped: bool  # stopped by the token budget, not by <|endoftext|>
    token_logprobs: tuple[float, ...] = ()  # log probability of each token in `tokens`
    # request.cut_repeats: `tokens` were cut before a loop or a final echo (repeated_end: what
    # was decoded and cut), or a block said twice was followed by other words (inner_repeat;
    # with stop_at_inner_repeat, decoding stopped there)
    repeated_end: RepeatedEnd | None = None
    inner_repeat: bool = False


def compression_ratio(text: str) -> float:
    """Bytes over zlib-compressed bytes: repetitive text compresses well (whisper's check)."""
    data = text.encode("utf-8")
    if not data:
        return 0.0
    return len(data) / len(zlib.compress(data))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax of a 1-D or 2-D array, along the last axis."""
    shifted = logits.astype(np.float64) - np.max(logits, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def logsumexp(logits: np.ndarray) -> float:
    """log(sum(exp(logits))) of a 1-D float32 array; -inf when every entry is -inf.

    Exponentials in float32 (the per-step cost over the whole vocabulary), their sum in float64
    so that a dominant token's log probability keeps its precision near 0.
    """
    top = np.max(logits)
    if not np.isfinite(top):
        return float(top)
    total = np.sum(np.exp(logits - top), dtype=np.float64)
    return float(top) + math.log(total)


def max_tokens_for(content_frames: int, config: WhisperConfig) -> int:
    """Token budget of a window, proportional to the audio it holds."""
    seconds = content_frames / FRAMES_PER_SECOND
    budget = _MAX_TOKENS_BASE + math.ceil(_MAX_TOKENS_PER_S * seconds)
    return min(config.max_text_tokens, budget)


class LogitRules:
    """Whisper's logit filters: blank and symbol suppression and the timestamp grammar."""

    def __init__(self, config: WhisperConfig, request: WindowRequest) -> None:
        special = config.special
        self._eot = special.eot
        self._ts_begin = special.timestamp_begin
        self._no_timestamps = special.no_timestamps
        self._without_timestamps = request.without_timestamps
        self._suppress = np.asarray(config.suppress_tokens, dtype=np.int64)
        self._suppress_begin = np.asarray(config.suppress_tokens_at_begin, dtype=np.int64)
        self._max_initial = round(request.max_initial_timestamp_s / TIME_PRECISION_S)
        # timestamps past the real audio in this window are impossible
        self._max_timestamp = math.ceil(request.content_frames / 2)

    def apply(self, logits: np.ndarray, sampled: list[int]) -> None:
        """Mask forbidden tokens in one row of `logits` (in place), given the tokens so far."""
        if not sampled:
            logits[self._suppress_begin] = -np.inf
        logits[self._suppress] = -np.inf
        if self._without_timestamps:
            logits[self._ts_begin :] = -np.inf
            return
        logits[self._no_timestamps] = -np.inf
        self._apply_timestamp_grammar(logits, sampled)

    def _apply_timestamp_grammar(self, logits: np.ndarray, sampled: list[int]) -> None:
        ts = self._ts_begin
        last_ts = len(sampled) >= 1 and sampled[-1] >= ts
        penultimate_ts = len(sampled) < 2 or sampled[-2] >= ts
        if last_ts:
            if penultimate_ts:  # a pair is closed: text must follow
                logits[ts:] = -np.inf
            else:  # an open timestamp must be closed before eot / text
                logits[: self._eot] = -np.inf
        stamps = [t for t in sampled if t >= ts]
        if stamps:
            # timestamps never decrease; a new segment must have nonzero length
            floor = stamps[-1] if (last_ts and not penultimate_ts) else stamps[-1] + 1
            logits[ts:floor] = -np.inf
        if not sampled:
            logits[:ts] = -np.inf  # the first token is a timestamp
            logits[ts + self._max_initial + 1 :] = -np.inf
        logits[ts + self._max_timestamp + 1 :] = -np.inf
        # all timestamps together more probable than any one text token: the softmax's
        # normalizer cancels on both sides, so raw logits compare the same
        if logsumexp(logits[ts:]) > float(np.max(logits[:ts])):
            logits[:ts] = -np.inf


class GreedyDecoder:
    """Picks tokens one step at a time: `push(logits)` returns the next token or None at the end.

    Nothing it sampled is ever removed: a loop shows in the window's compression ratio and
    log probability, and the caller re-decodes (whisper's temperature fallback)."""

    def __init__(self, rules: LogitRules, eot: int, max_tokens: int, temperature: float,
                 seed: int) -> None:
        self._rules = rules
        self._eot = eot
        self._max_tokens = max_tokens
        self._temperature = temperature
        self._rng = np.random.default_rng(seed) if temperature > 0 else None
        self.tokens: list[int] = []
        self._logprobs: list[float] = []  # of each token in self.tokens
        self._eot_logprob = 0.0
        self.looped = False

    @property
    def token_logprobs(self) -> tuple[float, ...]:
        """Log probability of each kept token, in the order of `tokens`."""
        return tuple(self._logprobs)

    @property
    def sum_logprob(self) -> float:
        """Log probability of the kept tokens and of the closing eot (whisper's score)."""
        return float(sum(self._logprobs)) + self._eot_logprob

    def push(self, logits: np.ndarray) -> int | None:
        """Choose the token that follows; None when the window is finished."""
        logits = logits.astype(np.float32, copy=True)
        self._rules.apply(logits, self.tokens)
        token = self._choose(logits)
        logprob = float(logits[token]) - logsumexp(logits)
        if token == self._eot:
            self._eot_logprob = logprob
            return None
        self.tokens.append(token)
        self._logprobs.append(logprob)
        if len(self.tokens) >= self._max_tokens:
            self.looped = True
            return None
        return token

    def _choose(self, logits: np.ndarray) -> int:
        if self._rng is None:
            return int(np.argmax(logits))
        scaled = log_softmax(logits / self._temperature)
        probs = np.exp(scaled)
        return int(self._rng.choice(len(probs), p=probs / probs.sum()))


def no_speech_probability(logits_at_sot: np.ndarray, no_speech: int) -> float:
    """Probability of <|nospeech|> right after <|startoftranscript|> (whisper's VAD signal)."""
    return float(np.exp(log_softmax(logits_at_sot)[no_speech]))


def decode_window(network: WhisperNetwork, cross: CrossCache, config: WhisperConfig,
                  request: WindowRequest, tokenizer: WhisperTokenizer,
                  stop: StopSignal | None = None,
                  start: DecoderOutput | None = None) -> WindowResult:
    """Greedy (or sampled, temperature > 0) decoding of one encoded window, after the request's
    prompt; Cancelled between tokens once `stop` is set.

    `start`: the decoder's step on <|startoftranscript|> alone (language_id.first_step), already
    run to detect the language; decoding continues from its cache instead of redoing it (not
    with a prompt, which comes before <|startoftranscript|>).
    """
    special = config.special
    sot = list(request.sot_sequence)
    prompt = [special.sot_prev, *request.prompt] if request.prompt else []
    prefix = prompt + sot + ([special.no_timestamps] if request.without_timestamps else [])
    decoder = GreedyDecoder(
        LogitRules(config, request),
        special.eot,
        max_tokens_for(request.content_frames, config),
        request.temperature,
        request.seed,
    )
    if start is None or prompt:
        out = network.decode(prefix, network.empty_cache(), cross)
        logits_at_sot = out.logits[len(prompt) + sot.index(special.sot)]
    else:
        if sot[0] != special.sot or start.cache.n_past != 1:
            raise ValueError("start must be the step on <|startoftranscript|> alone")
        rest = prefix[1:]  # empty for an English-only model's timestamped decode
        out = network.decode(rest, start.cache, cross) if rest else start
        logits_at_sot = start.logits[0]
    no_speech = no_speech_probability(logits_at_sot, special.no_speech)
    watch = RepeatCut(tokenizer, request.stop_at_inner_repeat) if request.cut_repeats else None
    token = decoder.push(out.logits[-1])
    cache = out.cache
    while token is not None and not (watch and watch.push(decoder.tokens)):
        check_stop(stop)
        out = network.decode([token], cache, cross)
        cache = out.cache
        token = decoder.push(out.logits[-1])
    if watch is not None:
        watch.finish(decoder.tokens)
        if watch.cut_at is not None:
            kept = (watch.prefix if request.keep_first_saying else watch.cut)(decoder.tokens)
            repeated = RepeatedEnd(tuple(decoder.tokens), watch.cut_at, watch.block_words)
            return _cut_result(decoder, kept, repeated, no_speech, request, tokenizer)
    tokens = tuple(decoder.tokens)
    return WindowResult(
        tokens=tokens,
        avg_logprob=decoder.sum_logprob / (len(tokens) + 1),
        no_speech_prob=no_speech,
        compression_ratio=compression_ratio(tokenizer.decode(list(tokens))),
        temperature=request.temperature,
        looped=decoder.looped,
        token_logprobs=decoder.token_logprobs,
        inner_repeat=watch is not None and watch.inner,
    )


def _cut_result(decoder: GreedyDecoder, kept: list[int], repeated: RepeatedEnd,
                no_speech: float, request: WindowRequest,
                tokenizer: WhisperTokenizer) -> WindowResult:
    """The result of a decode cut before a loop or a final echo: the tokens before its second
    saying, scored by their own mean log probability (no <|endoftext|> was sampled after
    them)."""
    logprobs = decoder.token_logprobs[: len(kept)]
    average = sum(logprobs) / len(logprobs) if logprobs else decoder.sum_logprob / (
        len(decoder.tokens) + 1)
    return WindowResult(
        tokens=tuple(kept),
        avg_logprob=average,
        no_speech_prob=no_speech,
        compression_ratio=compression_ratio(tokenizer.decode(kept)),
        temperature=request.temperature,
        looped=False,
        token_logprobs=logprobs,
        repeated_end=repeated,
    )
