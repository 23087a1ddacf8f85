"""StreamSession: one live recognition stream, from raw audio chunks to decode requests.

A pure state machine created by the RPC and dropped at its end: `push()` raw bytes,
`finalize()` at the client's finalize message and `finish()` at half-close return actions in
order — speech events, and requests to decode an utterance (interim while it is open, final at
its end). The caller runs `transcribe()` for each request on its thread pool and turns the
transcript into a `StreamResult` with `result()`.

Speculative finals: once the open utterance has been unvoiced for CANDIDATE_SILENCE_MS, a
`CandidateRequest` asks to decode it as its final. The caller decodes it at once and reports
the text with `candidate_decoded()`, which moves the endpoint by the stream's eagerness
(eagerness.py). If the silence lasts to the endpoint, the `FinalRequest` names the candidate
and its transcript is the final (the endpoint costs the larger of the wait and the decode, not
their sum); if speech resumes, the candidate is stale and a later one or the final replaces it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from voxserve.server.asr.types import TranscribeOptions, Transcript, Word
from voxserve.server.audio.decode import RAW_ENCODINGS, StreamDecoder, check_raw_format
from voxserve.server.audio.resample import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from voxserve.server.engines import Recognizer
from voxserve.server.errors import InvalidArgument
from voxserve.server.stop import StopSignal
from voxserve.server.streaming.committed import CommittedWords, normalized
from voxserve.server.streaming.eagerness import CANDIDATE_SILENCE_MS, Eagerness, silence_ms
from voxserve.server.streaming.endpointer import (
    Endpointer,
    OpenUtterance,
    SpeechEnded,
    SpeechStarted,
)
from voxserve.server.streaming.settings import (
    FIRST_INTERIM_MS,
    FIRST_INTERIM_RETRY_MS,
    INTERIM_INTERVAL_MS,
    Detector,
    EndpointingOptions,
)
from voxserve.server.streaming.vad import FrameClassifier, SileroModel, SileroVad, WebRtcVad


@dataclass(frozen=True)
class StreamOptions:
    """A stream's settings, with the server's defaults already filled in by the caller."""

    encoding: str = "linear16"
    sample_rate_hz: int = 16000
    channels: int = 1
    interim_results: bool = False
    interim_interval_ms: int = INTERIM_INTERVAL_MS.default
    single_utterance: bool = False
    eagerness: Eagerness = Eagerness.BALANCED
    endpointing: EndpointingOptions = field(default_factory=EndpointingOptions)
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)

    def __post_init__(self) -> None:
        if self.encoding not in RAW_ENCODINGS:
            raise InvalidArgument(
                f"config.encoding must be LINEAR16, MULAW or ALAW for StreamingRecognize, not"
                f" {self.encoding.upper()}"
            )
        check_raw_format(self.encoding, self.sample_rate_hz, self.channels)
        INTERIM_INTERVAL_MS.check("interim_interval_ms", self.interim_interval_ms)


@dataclass(frozen=True)
class EndOfSingleUtterance:
    """single_utterance streams: the first utterance is done, nothing more will be heard."""

    utterance_index: int
    offset_s: float


@dataclass(frozen=True, eq=False)
class InterimRequest:
    """Decode the open utterance's audio so far, [start_s, end_s) of the stream."""

    utterance_index: int
    audio: np.ndarray
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class CandidateRequest:
    """Decode the open utterance as its final, [start_s, end_s) of the stream, now that its
    speech (which ended at `speech_end_s`) has paused; it is used if the pause ends it."""

    utterance_index: int
    audio: np.ndarray
    start_s: float
    end_s: float
    speech_end_s: float


@dataclass(frozen=True, eq=False)
class FinalRequest:
    """Decode a finished utterance's audio, [start_s, end_s) of the stream, whose speech ended
    at `speech_end_s`; when `candidate` is set, it holds the same audio and its transcript
    (decoded already, or under way) is the final's."""

    utterance_index: int
    audio: np.ndarray
    start_s: float
    end_s: float
    speech_end_s: float
    candidate: CandidateRequest | None = None


DecodeRequest: TypeAlias = InterimRequest | CandidateRequest | FinalRequest
Action: TypeAlias = (
    SpeechStarted | SpeechEnded | EndOfSingleUtterance | InterimRequest | CandidateRequest
    | FinalRequest
)


@dataclass(frozen=True)
class StreamResult:
    """An interim or final transcript of one utterance, in stream offsets."""

    text: str
    is_final: bool
    stability: float
    utterance_index: int
    start_s: float
    end_s: float
    words: tuple[Word, ...]
    confidence: float
    language: str
    language_probability: float = 1.0  # the detector's; 1.0 where the language was set
    # Interims: the words no later interim revises, and the rest (committed.py); finals: all
    # words committed, none tentative.
    committed_text: str = ""
    tentative_text: str = ""
    # Finals: seconds from the endpoint decision (the server hearing the utterance's end, or
    # the client's finalize) to this result being ready; 0 when a candidate was ready first.
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.stability <= 1.0 or not 0.0 <= self.confidence <= 1.0:
            raise ValueError("stability and confidence must lie in [0, 1]")
        if self.end_s < self.start_s:
            raise ValueError("end_s must be >= start_s")


def create_vad(options: EndpointingOptions, silero: SileroModel | None) -> FrameClassifier:
    """A fresh per-stream detector of the kind the options name."""
    if options.detector is Detector.WEBRTC:
        return WebRtcVad(options.vad_aggressiveness)
    if silero is None:
        raise InvalidArgument("endpointing.detector SILERO is not available on this server")
    return SileroVad(silero, options.silero_threshold)


class StreamSession:
    """One stream's state: decoder, resampler, endpointer and interim bookkeeping.

    Not thread-safe: call push/finish/is_current/result from one thread (the event loop);
    only `transcribe()` is meant for the thread pool.
    """

    def __init__(
        self, recognizer: Recognizer, options: StreamOptions, *, silero: SileroModel | None = None
    ) -> None:
        self.options = options
        self._recognizer = recognizer
        self._decoder = StreamDecoder(options.encoding, options.sample_rate_hz, options.channels)
        self._endpointer = Endpointer(options.endpointing, create_vad(options.endpointing, silero))
        # Interims are greedy only, without timestamp tokens and cut before a repeated block
        # (no 30 s re-decode): a newer interim or the final soon replaces them, so a fallback's
        # extra decodes would only delay them and take CPU from the finals.
        self._interim_options = dataclasses.replace(
            options.transcribe, word_timestamps=False, without_timestamps=True,
            temperature_fallback=False, cut_repeats=True,
        )
        self._latest_interim: InterimRequest | None = None
        self._first_interim_s: float | None = None  # where the open utterance's first was due
        self._candidate: CandidateRequest | None = None
        # The trailing silence a final decodes: what its candidate holds (or less padding).
        self._kept_silence_ms = min(options.endpointing.speech_pad_ms, CANDIDATE_SILENCE_MS)
        self._interim_words: dict[int, tuple[str, ...]] = {}
        self._committed: dict[int, CommittedWords] = {}
        self._finished = False
        self._done = False

    @property
    def done(self) -> bool:
        """True once the stream will hear no more: finished, or single utterance complete."""
        return self._done

    @property
    def received_s(self) -> float:
        """Seconds of audio received so far (at 16 kHz, after resampling)."""
        return self._endpointer.received_s

    def push(self, chunk: bytes) -> list[Action]:
        """Take the next raw audio bytes (any length); returns what they complete, in order."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        if self._done:
            return []
        actions = self._actions(self._endpointer.push(self._decoder.push(chunk)))
        return actions + self._speculate() + self._interim()

    def finalize(self) -> list[Action]:
        """The client's finalize message: end the open utterance now (nothing if none is open).
        Audio still inside the decoder's resampler (a few ms) goes to the next utterance."""
        if self._finished:
            raise RuntimeError("finalize() after finish()")
        if self._done:
            return []
        return self._actions(self._endpointer.close_now())

    def finish(self) -> list[Action]:
        """Half-close: flush the resampler and close the open utterance with a final request."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        if self._done:
            return []
        events = self._endpointer.push(self._decoder.flush())
        actions = self._actions(events)
        if not self._done:
            actions += self._actions(self._endpointer.finish())
        self._done = True
        return actions

    def transcribe(self, request: DecodeRequest, stop: StopSignal | None = None) -> Transcript:
        """Run the recognizer on a request's audio (blocking; thread-safe); Cancelled between
        its steps once `stop` is set."""
        if isinstance(request, InterimRequest):
            return self._recognizer.transcribe(request.audio, self._interim_options, stop)
        # No prompt: the previous final's text as Whisper's prompt (issue 14's item 3) was
        # built and measured on real speech (docs/benchmarks.md, issue 14c) and left out. Over
        # 240 utterances it changed nothing (2.73 % WER against 2.64 %) at 1.29x the CPU per
        # final, and in a live stream a prompted decode ended its window after the first
        # sentence and silently dropped the next 22 words.
        return self._recognizer.transcribe(request.audio, self.options.transcribe, stop)

    def is_current(self, request: DecodeRequest) -> bool:
        """False for an interim request overtaken by a newer one or by its utterance's end, and
        for a candidate overtaken by resumed speech or its utterance's end: decoding it would
        only delay fresher results."""
        if isinstance(request, CandidateRequest):
            return request is self._candidate
        return isinstance(request, FinalRequest) or request is self._latest_interim

    def candidate_decoded(self, request: CandidateRequest, transcript: Transcript) -> bool:
        """A candidate's text moves its utterance's endpoint (eagerness.py), while it is still
        the open utterance's current candidate. True when the silence heard already reaches the
        new endpoint: end_if_silent() then ends the utterance at once, instead of when the next
        audio arrives (up to a client message's length later)."""
        if request is not self._candidate:
            return False
        return self._endpointer.set_min_silence_ms(request.utterance_index, silence_ms(
            transcript.text, self.options.eagerness, self.options.endpointing.min_silence_ms))

    def end_if_silent(self) -> list[Action]:
        """End the open utterance if the silence heard already reaches its endpoint (a
        candidate's text moved it there): its SpeechEnded and final request, as push() gives."""
        if self._finished or self._done:
            return []
        return self._actions(self._endpointer.close_if_silent())

    def result(self, request: DecodeRequest, transcript: Transcript) -> StreamResult:
        """The result to send for a decoded request: stream offsets, stability, confidence."""
        is_final = not isinstance(request, InterimRequest)
        confidence = transcript.confidence
        text = transcript.text.strip()
        if is_final:
            self._interim_words.pop(request.utterance_index, None)
            self._committed.pop(request.utterance_index, None)
            stability, committed, tentative = 1.0, text, ""
        elif not text:  # never sent, so it neither commits nor counts as a hypothesis
            stability, committed, tentative = 0.0, "", ""
        else:
            interim = self._committed.setdefault(request.utterance_index,
                                                 CommittedWords()).push(text)
            text, committed = interim.text, " ".join(interim.committed)
            tentative = " ".join(interim.tentative)
            words = tuple(w for w in (normalized(w) for w in text.split()) if w)
            previous = self._interim_words.get(request.utterance_index)
            stability = _stability(previous, words, confidence)
            self._interim_words[request.utterance_index] = words
        timed = is_final and self.options.transcribe.word_timestamps
        return StreamResult(
            text=text,
            is_final=is_final,
            stability=stability,
            utterance_index=request.utterance_index,
            start_s=request.start_s,
            end_s=request.end_s,
            words=_shifted_words(transcript, request.start_s) if timed else (),
            confidence=confidence,
            language=transcript.language,
            committed_text=committed,
            tentative_text=tentative,
            language_probability=transcript.language_probability,
        )

    def _actions(self, events: list[SpeechStarted | SpeechEnded]) -> list[Action]:
        actions: list[Action] = []
        for event in events:
            actions.append(event)
            if isinstance(event, SpeechEnded):
                event.audio.flags.writeable = False  # shared with the decoding thread
                actions.append(self._final(event))
                self._latest_interim = None
                self._first_interim_s = None
                self._candidate = None
                if self.options.single_utterance:
                    actions.append(EndOfSingleUtterance(event.utterance_index, event.offset_s))
                    self._done = True
                    break
        return actions

    def _final(self, event: SpeechEnded) -> FinalRequest:
        """The final request of an ended utterance: its current candidate's audio when that
        holds all of its speech, else the same span cut from the utterance's audio (up to
        CANDIDATE_SILENCE_MS after the speech, in whole frames, or speech_pad_ms if shorter).
        Either way a final decodes the same audio however the stream was split into messages
        and however fast it came."""
        candidate = self._candidate_for(event)
        if candidate is not None:
            return FinalRequest(event.utterance_index, candidate.audio, candidate.start_s,
                                candidate.end_s, event.speech_end_s, candidate)
        audio, end_s = event.audio, event.end_s
        if event.cause != "max_utterance":
            kept_end_s = event.speech_end_s + self._endpointer.whole_frames_s(
                self._kept_silence_ms)
            if kept_end_s < end_s:
                audio = audio[: round((kept_end_s - event.start_s) * SAMPLE_RATE_HZ)]
                end_s = event.start_s + len(audio) / SAMPLE_RATE_HZ
        return FinalRequest(event.utterance_index, audio, event.start_s, end_s,
                            event.speech_end_s)

    def _candidate_for(self, event: SpeechEnded) -> CandidateRequest | None:
        """The current candidate when it holds all of the ended utterance's speech: no voiced
        frame since it was taken, and not a forced cut (whose audio ends before the speech)."""
        candidate = self._candidate
        if (candidate is None or candidate.utterance_index != event.utterance_index
                or event.cause == "max_utterance"
                or abs(candidate.speech_end_s - event.speech_end_s) > 1e-9):
            return None
        return candidate

    def _speculate(self) -> list[Action]:
        """A candidate request once the open utterance's speech has paused long enough, one per
        pause (speech resuming and pausing again makes a new one)."""
        heard = self._endpointer.open_utterance
        if heard is None or self._done or heard.silence_s < CANDIDATE_SILENCE_MS / 1000 - 1e-9:
            return []
        current = self._candidate
        if (current is not None and current.utterance_index == heard.utterance_index
                and current.speech_end_s == heard.speech_end_s):
            return []
        audio = self._endpointer.open_audio(self._kept_silence_ms)
        audio.flags.writeable = False
        self._candidate = CandidateRequest(heard.utterance_index, audio, heard.start_s,
                                           heard.start_s + len(audio) / SAMPLE_RATE_HZ,
                                           heard.speech_end_s)
        return [self._candidate]

    def _interim(self) -> list[Action]:
        heard = self._endpointer.open_utterance
        if not self.options.interim_results or heard is None or self._done:
            return []
        candidate = self._candidate
        if (candidate is not None and candidate.utterance_index == heard.utterance_index
                and candidate.speech_end_s == heard.speech_end_s):
            return []  # paused: the candidate decodes the same speech, for the final
        if heard.end_s < self._next_interim_s(heard) - 1e-9:
            return []
        audio = self._endpointer.open_audio()
        audio.flags.writeable = False
        self._latest_interim = InterimRequest(heard.utterance_index, audio, heard.start_s,
                                              heard.end_s)
        if self._first_interim_s is None:
            self._first_interim_s = heard.end_s
        return [self._latest_interim]

    def _next_interim_s(self, heard: OpenUtterance) -> float:
        """Where (stream seconds) the open utterance's next interim request is due.

        The first once FIRST_INTERIM_MS of its speech has been heard; until an interim of it
        has held words (one may be skipped for the interim budget, or decode before the first
        word), again every FIRST_INTERIM_RETRY_MS, for at most one interval; then one every
        interim_interval_ms. Counting from the speech's start, not from the utterance's leading
        padding, keeps the first interim's wait independent of the interval and the padding."""
        latest = self._latest_interim
        if latest is None:
            return heard.speech_start_s + FIRST_INTERIM_MS / 1000
        interval_s = self.options.interim_interval_ms / 1000
        first_s = self._first_interim_s if self._first_interim_s is not None else latest.end_s
        if (heard.utterance_index not in self._committed
                and latest.end_s + FIRST_INTERIM_RETRY_MS / 1000 < first_s + interval_s):
            return latest.end_s + FIRST_INTERIM_RETRY_MS / 1000
        return latest.end_s + interval_s


def _stability(previous: tuple[str, ...] | None, current: tuple[str, ...],
               confidence: float) -> float:
    """Estimated likelihood that the interim text will not change (Google's meaning).

    Words that the previous interim already held in the same places (the common prefix)
    survived a re-decode with more audio, and count as settled; each newer word is as likely to
    stay as the decoder is sure of the text (`confidence`). The first interim, with nothing to
    compare, gets its confidence; an empty interim 0.0.
    """
    if not current:
        return 0.0
    agreeing = 0
    for before, now in zip(previous or (), current, strict=False):
        if before != now:
            break
        agreeing += 1
    return (agreeing + (len(current) - agreeing) * confidence) / len(current)


def _shifted_words(transcript: Transcript, offset_s: float) -> tuple[Word, ...]:
    return tuple(
        dataclasses.replace(word, start_s=word.start_s + offset_s, end_s=word.end_s + offset_s)
        for segment in transcript.segments
        for word in segment.words
    )
