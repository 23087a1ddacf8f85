"""One transcribe call: 30 s windows over the audio, each decoded, cut into segments, timed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.decoding import WindowRequest, WindowResult, decode_window
from voxserve.server.asr.echoes import is_echo
from voxserve.server.asr.features import FRAMES_PER_SECOND, HOP_LENGTH, log_mel_spectrogram
from voxserve.server.asr.language_id import LanguageRanking, first_step, rank_languages
from voxserve.server.asr.network import CrossCache, DecoderOutput, WhisperNetwork
from voxserve.server.asr.repeats import has_repeated_words
from voxserve.server.asr.segments import DraftSegment, split_window
from voxserve.server.asr.timing import add_word_timestamps, find_alignment
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.asr.types import Segment, TranscribeOptions, Word
from voxserve.server.stop import StopSignal, check_stop

# Below -70 dBFS RMS there is nothing to recognise: skip the model entirely.
SILENCE_RMS = 10 ** (-70 / 20)
# Mel frames of trailing silence given to the encoder after a short window's audio, on the fast
# path: a 3 s window then costs 4 s of encoder work instead of whisper's 30 s. On real speech
# (asterisk prompts, tiny.en) a short window alone loops ("Transfer Transfer ...") on a third of
# the clips at any margin below the full window (see docs/benchmarks.md), so its result stands
# only when it passes every check in `_fluent`; otherwise the window is decoded again as whisper
# decodes it, padded to 30 s. A finished sentence said again at the end ("I'm sorry, that number
# is not valid. I'm sorry, ...") is cut off instead when its second saying was heard nowhere
# (echoes.py): the echo that sent most finals' windows to 30 s. Tentative text
# (TranscribeOptions.cut_repeats: interims) skips that re-decode unless a block said twice is
# followed by other words (maybe speech said twice): a loop or an echo at the end is cut off
# instead (repeats.py).
PAD_MARGIN_FRAMES = 100
# Windows with less audio than this (10 ms frames) are not decoded: too short for a word.
MIN_WINDOW_FRAMES = 10
# whisper's temperature fallback when a greedy result is repetitive or improbable
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
# whisper's transcribe(): a window sampled hotter than this does not prompt the next one
PROMPT_RESET_TEMPERATURE = 0.5


@dataclass(frozen=True)
class _Window:
    """One stretch of the mel spectrogram handed to the encoder."""

    seek: int  # first mel frame
    content_frames: int  # frames of real audio
    mel: np.ndarray  # [n_mels, 30 s of frames]: the audio, then silence where it ends
    short_frames: int  # frames of the fast path's shorter encoder input (0: none)


@dataclass(frozen=True)
class _Language:
    """The language one window is decoded in, and how it was chosen."""

    code: str
    probability: float  # the detector's; 1.0 when forced
    start: DecoderOutput | None  # the detection's decoder step, reused by the decode


def window_frames(content_frames: int, max_frames: int) -> int:
    """Mel frames given to the encoder for a window of `content_frames` of audio: the audio plus
    PAD_MARGIN_FRAMES of trailing silence, rounded up to even (the encoder halves it), at most
    a full window. Never padded to 30 s: a 3 s window costs about a tenth of a 30 s one."""
    frames = min(max_frames, content_frames + PAD_MARGIN_FRAMES)
    return frames + frames % 2


def rms(audio: np.ndarray) -> float:
    """Root mean square level of the samples (0 for silence, about 0.1 for speech)."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


class Transcription:
    """One transcribe call: the window loop and its running state (never shared)."""

    def __init__(self, config: WhisperConfig, network: WhisperNetwork,
                 tokenizer: WhisperTokenizer, options: TranscribeOptions,
                 language: str | None, candidates: tuple[str, ...] = (),
                 stop: StopSignal | None = None) -> None:
        """`language`: decode every window in it; None: detect it per window among
        `candidates` (the model's language codes; all of them when empty). `stop` cancels
        between windows and tokens."""
        self._config = config
        self._stop = stop
        self._network = network
        self._tokenizer = tokenizer
        self._options = options
        self._forced = language
        self._candidates = candidates or tuple(config.languages)
        # the first decoded window's language (the transcript's)
        self.language = language
        self.language_probability = 1.0 if language is not None else 0.0
        self._last_speech_s = 0.0
        self._prompt: list[int] = []  # tokens of the segments so far, newest last

    def transcribe(self, audio: np.ndarray) -> list[Segment]:
        """Walk 30 s windows from the start, each beginning where the last full segment ended."""
        segments: list[Segment] = []
        seek = 0
        # 30 s of trailing zeros, as whisper pads: the last window's 30 s input
        mel = self._mel(audio, self._config.n_audio_frames)
        while (window := self._next_window(audio, mel, seek)) is not None:
            found, seek = self._decode(window)
            segments.extend(found)
        return segments

    def identify_language(self, audio: np.ndarray) -> tuple[LanguageRanking, float, float] | None:
        """The candidates ranked on the first window with sound and that window's
        [start_s, end_s); None when no window holds sound.

        Unlike transcribe(), which detects on the window it decodes (its audio and a short
        silent margin), this pads the window to Whisper's full 30 s as whisper and
        faster-whisper detect: on clips under 2 s that names the language more often (measured
        on Asterisk prompts: 65 % against 50 %; docs/benchmarks.md), at a 30 s window's cost.
        """
        max_frames = self._config.n_audio_frames
        mel = self._mel(audio, max_frames)
        window = self._next_window(audio, mel, 0)
        if window is None:
            return None
        start = first_step(self._network, self._network.encode(window.mel), self._config)
        ranking = rank_languages(start.logits[0], self._config, self._candidates)
        end = window.seek + window.content_frames
        return ranking, window.seek / FRAMES_PER_SECOND, end / FRAMES_PER_SECOND

    def _mel(self, audio: np.ndarray, margin_frames: int = PAD_MARGIN_FRAMES) -> np.ndarray:
        # trailing zeros give the last window its silent margin (and whisper's silence after
        # the audio, not a reflection, in the last frames' STFT)
        padding = (margin_frames + 2) * HOP_LENGTH
        return log_mel_spectrogram(audio, self._config.dims.n_mels, padding,
                                   between_blocks=lambda: check_stop(self._stop))

    def _next_window(self, audio: np.ndarray, mel: np.ndarray, seek: int) -> _Window | None:
        """The first window at or after frame `seek` holding sound; None at the end."""
        max_frames = self._config.n_audio_frames
        content_frames = len(audio) // HOP_LENGTH
        while content_frames - seek >= MIN_WINDOW_FRAMES:
            check_stop(self._stop)
            size = min(max_frames, content_frames - seek)
            chunk = audio[seek * HOP_LENGTH : (seek + size) * HOP_LENGTH]
            if rms(chunk) < SILENCE_RMS:
                seek += size
                continue
            n_frames = window_frames(size, max_frames)
            short_frames = n_frames if n_frames < max_frames else 0
            return _Window(seek, size, mel[:, seek : seek + max_frames], short_frames)
        return None

    def _language(self, cross: CrossCache) -> _Language:
        """The forced language, or the window's most probable candidate."""
        if self._forced is not None:
            return _Language(self._forced, 1.0, None)
        start = first_step(self._network, cross, self._config)
        best = rank_languages(start.logits[0], self._config, self._candidates).best
        if self.language is None:
            self.language, self.language_probability = best.code, best.probability
        return _Language(best.code, best.probability, start)

    def _decode(self, window: _Window) -> tuple[list[Segment], int]:
        """Segments of one window and the frame where the next window starts."""
        fast = self._decode_short(window) if window.short_frames else None
        if fast is None:
            cross = self._network.encode(window.mel)
            language = self._language(cross)
            result = self._decode_with_fallback(window, cross, language)
        else:
            cross, language, result = fast
        if self._is_silence(result):  # the stated rule for skipping a window: see _is_silence
            return [], window.seek + window.content_frames
        special = self._config.special
        split = split_window(
            list(result.tokens), special.timestamp_begin, window.seek, window.content_frames
        )
        drafts = [s for s in split.segments if self._text(s)]
        next_seek = split.next_seek
        if self._options.word_timestamps and drafts:
            self._time_words(drafts, cross, window, language.code)
            if not split.single_timestamp_ending:
                last_end = drafts[-1].words[-1].end_s if drafts[-1].words else None
                if last_end is not None and last_end > window.seek / FRAMES_PER_SECOND:
                    next_seek = max(window.seek + 1, round(last_end * FRAMES_PER_SECOND))
        drafts = [s for s in drafts if s.start_s != s.end_s]
        self._remember(drafts, result)
        segments = [self._freeze(s, result, language) for s in drafts]
        return segments, next_seek

    def _remember(self, drafts: list[DraftSegment], result: WindowResult) -> None:
        """Keep the window's tokens as the next window's prompt (whisper's
        condition_on_previous_text); text sampled above temperature 0.5 is not worth following,
        so the prompt starts afresh after it."""
        if not self._options.condition_on_previous_text:
            return
        if result.temperature > PROMPT_RESET_TEMPERATURE:
            self._prompt = []
            return
        self._prompt.extend(t for d in drafts for t in d.tokens)
        del self._prompt[: -self._config.max_text_tokens + 1]

    def _decode_short(self, window: _Window
                      ) -> tuple[CrossCache, _Language, WindowResult] | None:
        """The fast path: greedy decoding of the audio plus a short margin of silence, which
        stops at a block of words said twice and followed by others, or said a third time. Its
        result when no such block stays in it: tentative text (cut_repeats) cut before a loop
        or a final echo; a final's when it passes `_fluent`, a repetition at its end cut off
        only where the second saying was heard nowhere (echoes.py). Otherwise None: the full
        window decides."""
        cross = self._network.encode(window.mel[:, : window.short_frames])
        language = self._language(cross)
        tentative = self._options.cut_repeats
        request = dataclasses.replace(self._request(window, 0.0, language), cut_repeats=True,
                                      stop_at_inner_repeat=True,
                                      keep_first_saying=not tentative)
        result = decode_window(self._network, cross, self._config, request, self._tokenizer,
                               self._stop, language.start)
        if result.inner_repeat:
            return None
        if tentative or (self._fluent(result) and self._echo_or_none(result, cross, window,
                                                                      language)):
            return cross, language, result
        return None

    def _echo_or_none(self, result: WindowResult, cross: CrossCache, window: _Window,
                      language: _Language) -> bool:
        """Whether `result` had nothing cut off, or cut off only an echo."""
        if result.repeated_end is None:
            return True
        prefix = [*self._sot_sequence(language.code), self._config.special.no_timestamps]
        return is_echo(self._network, cross, self._tokenizer, prefix, result,
                       window.content_frames, self._words_language(language.code))

    def _fluent(self, result: WindowResult) -> bool:
        """Whether a fast-path result may stand: speech (not judged silence), no temperature
        fallback needed, and no block of words said twice in a row, which short windows invent
        ("Agent logged in. Agent logged in."); a real repetition is kept by the full window."""
        return not (self._is_silence(result) or self._needs_fallback(result)
                    or has_repeated_words(self._tokenizer.decode(list(result.tokens))))

    def _request(self, window: _Window, temperature: float,
                 language: _Language) -> WindowRequest:
        options = self._options
        return WindowRequest(
            sot_sequence=self._sot_sequence(language.code),
            content_frames=window.content_frames,
            without_timestamps=options.without_timestamps,
            max_initial_timestamp_s=options.max_initial_timestamp_s,
            temperature=temperature,
            seed=window.seek,
            prompt=tuple(self._prompt),
            cut_repeats=options.cut_repeats,
        )

    def _sot_sequence(self, language: str) -> tuple[int, ...]:
        special = self._config.special
        if not self._config.multilingual:
            return (special.sot,)
        task = special.translate if self._options.translate else special.transcribe
        return (special.sot, self._config.languages[language], task)

    def _decode_with_fallback(self, window: _Window, cross: CrossCache,
                              language: _Language) -> WindowResult:
        """Greedy first; then (with temperature_fallback) sample at rising temperatures while
        the text is a loop or improbable.

        When every try fails, the most probable one that is not repetitive wins (faster-whisper's
        choice; whisper keeps the last, most random one).
        """
        options = self._options
        fallbacks = FALLBACK_TEMPERATURES if options.temperature_fallback else ()
        tries: list[WindowResult] = []
        for temperature in (0.0, *fallbacks):
            request = self._request(window, temperature, language)
            result = decode_window(self._network, cross, self._config, request, self._tokenizer,
                                   self._stop, language.start)
            if not self._needs_fallback(result):
                return result
            tries.append(result)
        fluent = [r for r in tries if r.compression_ratio <= options.compression_ratio_threshold]
        return max(fluent, key=lambda r: r.avg_logprob) if fluent else tries[0]

    def _needs_fallback(self, result: WindowResult) -> bool:
        options = self._options
        needs = (
            result.compression_ratio > options.compression_ratio_threshold
            or result.avg_logprob < options.log_prob_threshold
            or result.looped  # ran out of its token budget: a loop too long to compress
        )
        if result.no_speech_prob > options.no_speech_threshold and (
            result.avg_logprob < options.log_prob_threshold
        ):
            return False  # silence: no retry will find words
        return needs

    def _is_silence(self, result: WindowResult) -> bool:
        options = self._options
        return (
            result.no_speech_prob > options.no_speech_threshold
            and result.avg_logprob <= options.log_prob_threshold
        )

    def _text(self, segment: DraftSegment) -> str:
        return self._tokenizer.decode(segment.tokens).strip()

    def _time_words(self, drafts: list[DraftSegment], cross: CrossCache, window: _Window,
                    language: str) -> None:
        eot = self._config.special.eot
        text_tokens = [t for s in drafts for t in s.tokens if t < eot]
        prefix = [*self._sot_sequence(language), self._config.special.no_timestamps]
        alignment = find_alignment(
            self._network, cross, self._tokenizer, prefix, text_tokens,
            window.content_frames, self._words_language(language),
        )
        self._last_speech_s = add_word_timestamps(
            drafts, alignment, window.seek / FRAMES_PER_SECOND, eot, self._last_speech_s
        )

    def _words_language(self, language: str) -> str:
        """The language whose rules split the text into words: translated text is English."""
        return "en" if self._options.translate else language

    def _segment_logprob(self, draft: DraftSegment, result: WindowResult) -> float:
        """Mean log probability of the segment's own text tokens (its confidence, not the
        window's); the window's score when the tokens' scores are not at hand."""
        first = draft.first_token
        scores = result.token_logprobs[first : first + len(draft.tokens)]
        if len(scores) != len(draft.tokens) or tuple(draft.tokens) != result.tokens[
            first : first + len(draft.tokens)
        ]:
            return result.avg_logprob
        eot = self._config.special.eot
        text = [score for token, score in zip(draft.tokens, scores, strict=True) if token < eot]
        return sum(text) / len(text) if text else result.avg_logprob

    def _freeze(self, draft: DraftSegment, result: WindowResult, language: _Language) -> Segment:
        words = tuple(
            Word(w.word.strip(), round(w.start_s, 3), round(w.end_s, 3), w.probability)
            for w in draft.words
            if w.word.strip()
        )
        return Segment(
            start_s=round(draft.start_s, 3),
            end_s=round(draft.end_s, 3),
            text=self._text(draft),
            avg_logprob=self._segment_logprob(draft, result),
            no_speech_prob=result.no_speech_prob,
            words=words,
            language=language.code,
            language_probability=language.probability,
        )
