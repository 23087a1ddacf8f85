"""Endpointer: the per-stream state machine that cuts live 16 kHz audio into utterances.

Frames are classified by a per-stream voice activity detector. Speech starts once most frames of
a `min_speech_ms` window are voiced and ends after `min_silence_ms` of unvoiced frames; the
utterance keeps `speech_pad_ms` of audio on either side. An utterance that reaches
`max_utterance_ms` is cut at its quietest frame of the last second, not mid-word. Every offset
counts 16 kHz samples from the start of the stream, so any split of the same audio into pushes
gives the same events. Memory is bounded: the open utterance (at most `max_utterance_ms`, padding
included) or, between utterances, a pre-roll of `speech_pad_ms` plus the start window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np

from voxserve.server.audio.resample import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from voxserve.server.streaming.settings import EndpointingOptions
from voxserve.server.streaming.vad import FrameClassifier

# Share of the start window's frames that must be voiced (py-webrtcvad's example uses 0.9): a
# single dropped frame inside a long min_speech_ms window does not delay the start.
START_VOICED_RATIO = 0.9
# A forced cut looks for the quietest frame this far back (at most half the utterance).
CUT_LOOKBACK_MS = 1000
EndCause = Literal["silence", "max_utterance", "finish", "finalize"]


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began at `offset_s` of the stream (where the detector heard it, without the
    leading padding that the utterance's audio keeps before it)."""

    utterance_index: int
    offset_s: float


@dataclass(frozen=True, eq=False)
class SpeechEnded:
    """An utterance is complete: its audio [start_s, end_s) of the stream, padding included;
    the speech in it ended at `speech_end_s` (the end of its last voiced frame, or the cut)."""

    utterance_index: int
    start_s: float
    end_s: float
    audio: np.ndarray
    cause: EndCause
    speech_end_s: float

    @property
    def offset_s(self) -> float:
        """Where the speech ended in the stream (the trailing padding not included)."""
        return self.speech_end_s


@dataclass(frozen=True)
class OpenUtterance:
    """The utterance still being heard: its index, the span of audio it holds so far, where
    its speech started (SpeechStarted's offset) and last ended (the end of its last voiced
    frame), and the unvoiced time since."""

    utterance_index: int
    start_s: float
    end_s: float
    speech_end_s: float
    silence_s: float
    speech_start_s: float


Event: TypeAlias = SpeechStarted | SpeechEnded


class _Samples:
    """Growable float32 buffer holding stream samples [start, end)."""

    def __init__(self) -> None:
        self._data = np.zeros(SAMPLE_RATE_HZ, dtype=np.float32)
        self._len = 0
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + self._len

    def append(self, samples: np.ndarray) -> None:
        size = self._len + samples.shape[0]
        if size > self._data.shape[0]:
            grown = np.zeros(max(size, 2 * self._data.shape[0]), dtype=np.float32)
            grown[: self._len] = self._data[: self._len]
            self._data = grown
        self._data[self._len : size] = samples
        self._len = size

    def view(self, begin: int, end: int) -> np.ndarray:
        return self._data[begin - self.start : end - self.start]

    def drop_before(self, position: int) -> None:
        drop = min(position - self.start, self._len)
        if drop <= 0:
            return
        self._data[: self._len - drop] = self._data[drop : self._len]
        self._len -= drop
        self.start += drop


@dataclass
class _Utterance:
    """Mutable bookkeeping of the open utterance, in stream samples."""

    index: int
    start: int
    last_voiced_end: int
    silent_frames: int
    silence_frames_needed: int
    speech_start: int


class Endpointer:
    """Finds utterances in one stream: `push()` 16 kHz samples, `finish()` at the end."""

    def __init__(self, options: EndpointingOptions, vad: FrameClassifier) -> None:
        self.options = options
        self._vad = vad
        self._frame = vad.frame_samples
        self._pad = _samples(options.speech_pad_ms)
        self._max = _samples(options.max_utterance_ms)
        self._silence_frames = math.ceil(_samples(options.min_silence_ms) / self._frame)
        window = max(1, math.ceil(_samples(options.min_speech_ms) / self._frame))
        self._voiced_needed = math.ceil(START_VOICED_RATIO * window)
        self._window: deque[bool] = deque(maxlen=window)
        lookback = min(_samples(CUT_LOOKBACK_MS), self._max // 2) // self._frame
        self._recent: deque[tuple[bool, float]] = deque(maxlen=max(1, lookback))
        self._buffer = _Samples()
        self._next_frame = 0
        self._next_index = 0
        self._open: _Utterance | None = None
        self._finished = False

    @property
    def received_s(self) -> float:
        """Seconds of audio pushed so far."""
        return _seconds(self._buffer.end)

    @property
    def buffered_s(self) -> float:
        """Seconds of audio held in memory: the open utterance, or the pre-roll between them."""
        return _seconds(self._buffer.end - self._buffer.start)

    @property
    def open_utterance(self) -> OpenUtterance | None:
        """The utterance being heard, or None between utterances."""
        if self._open is None:
            return None
        return OpenUtterance(self._open.index, _seconds(self._open.start),
                             _seconds(self._buffer.end), _seconds(self._open.last_voiced_end),
                             _seconds(self._open.silent_frames * self._frame),
                             _seconds(self._open.speech_start))

    def set_min_silence_ms(self, utterance_index: int, min_silence_ms: int) -> bool:
        """End the open utterance `utterance_index` after `min_silence_ms` of unvoiced frames
        instead of the options' (a no-op once that utterance is closed), until a voiced frame
        resets it. True when the silence heard already reaches it: close_if_silent() then ends
        the utterance without waiting for more audio."""
        if self._open is None or self._open.index != utterance_index:
            return False
        self._open.silence_frames_needed = max(1, math.ceil(_samples(min_silence_ms)
                                                            / self._frame))
        return self._open.silent_frames >= self._open.silence_frames_needed

    def close_if_silent(self) -> list[Event]:
        """End the open utterance now if its unvoiced frames already reach its silence target
        (as the frame that reached it would have, had the target been set then)."""
        if self._finished or self._open is None:
            return []
        if self._open.silent_frames < self._open.silence_frames_needed:
            return []
        return [self._close_after_silence()]

    def close_now(self) -> list[Event]:
        """End the open utterance at once (the client's finalize), with the trailing padding
        heard so far; nothing between utterances."""
        if self._finished:
            raise RuntimeError("close_now() after finish()")
        if self._open is None:
            return []
        # Up to the last classified frame: the part-frame after it (under 30 ms) is classified
        # with the audio that follows, so the next utterance may start in it.
        end = min(self._open.last_voiced_end + self._pad, self._next_frame * self._frame,
                  self._open.start + self._max)
        return [self._close(end, "finalize")]

    def open_audio(self, silence_kept_ms: int | None = None) -> np.ndarray:
        """A copy of the open utterance's audio so far (empty between utterances); with
        `silence_kept_ms`, only up to that much after its last voiced frame (whole frames), so
        that the audio does not depend on how the stream was split into pushes."""
        if self._open is None:
            return np.zeros(0, dtype=np.float32)
        end = self._buffer.end
        if silence_kept_ms is not None:
            kept = math.ceil(_samples(silence_kept_ms) / self._frame) * self._frame
            end = min(end, self._open.last_voiced_end + kept)
        return self._buffer.view(self._open.start, end).copy()

    def whole_frames_s(self, ms: int) -> float:
        """`ms` rounded up to whole detector frames, in seconds."""
        return _seconds(math.ceil(_samples(ms) / self._frame) * self._frame)

    def push(self, samples: np.ndarray) -> list[Event]:
        """Add the next float32 mono 16 kHz samples; returns the events they complete."""
        if self._finished:
            raise RuntimeError("push() after finish()")
        self._buffer.append(np.asarray(samples, dtype=np.float32))
        events: list[Event] = []
        while self._buffer.end >= (self._next_frame + 1) * self._frame:
            events.extend(self._step(self._next_frame))
            self._next_frame += 1
        return events

    def finish(self) -> list[Event]:
        """End of stream: closes the open utterance (if any) with its trailing padding."""
        if self._finished:
            raise RuntimeError("finish() called twice")
        self._finished = True
        if self._open is None:
            return []
        end = min(self._open.last_voiced_end + self._pad, self._buffer.end,
                  self._open.start + self._max)
        return [self._close(end, "finish")]

    def _step(self, frame_index: int) -> list[Event]:
        begin = frame_index * self._frame
        frame = self._buffer.view(begin, begin + self._frame)
        voiced = self._vad.is_speech(frame)
        self._recent.append((voiced, float(np.dot(frame, frame))))
        if self._open is None:
            return self._idle_step(frame_index, voiced)
        return self._speech_step(frame_index, voiced)

    def _idle_step(self, frame_index: int, voiced: bool) -> list[Event]:
        self._window.append(voiced)
        frame_end = (frame_index + 1) * self._frame
        if sum(self._window) < self._voiced_needed:
            # Keep only the pre-roll: the start window plus the leading padding.
            self._buffer.drop_before(frame_end - len(self._window) * self._frame - self._pad)
            return []
        onset_frame = frame_index - len(self._window) + 1 + self._window.index(True)
        onset = onset_frame * self._frame
        return [self._start(max(onset - self._pad, self._buffer.start), frame_end, 0, onset)]

    def _speech_step(self, frame_index: int, voiced: bool) -> list[Event]:
        assert self._open is not None
        frame_end = (frame_index + 1) * self._frame
        if voiced:
            self._open.last_voiced_end = frame_end
            self._open.silent_frames = 0
            # A silence target set for the pause before (set_min_silence_ms) judged the text
            # heard up to it; the next pause is judged anew.
            self._open.silence_frames_needed = self._silence_frames
        else:
            self._open.silent_frames += 1
        if self._open.silent_frames >= self._open.silence_frames_needed:
            return [self._close_after_silence()]
        if frame_end + self._frame - self._open.start > self._max:
            return self._cut(frame_index)
        return []

    def _start(self, start: int, last_voiced_end: int, silent_frames: int, onset: int
               ) -> SpeechStarted:
        """Open an utterance whose audio starts at `start` and whose speech starts at `onset`."""
        self._open = _Utterance(self._next_index, start, last_voiced_end, silent_frames,
                                self._silence_frames, onset)
        self._next_index += 1
        self._window.clear()
        self._buffer.drop_before(start)
        return SpeechStarted(self._open.index, _seconds(onset))

    def _close_after_silence(self) -> SpeechEnded:
        assert self._open is not None
        trailing = min(self._pad, self._open.silent_frames * self._frame)
        return self._close(self._open.last_voiced_end + trailing, "silence")

    def _close(self, end: int, cause: EndCause) -> SpeechEnded:
        assert self._open is not None
        audio = self._buffer.view(self._open.start, end).copy()
        speech_end = min(self._open.last_voiced_end, end)  # a forced cut ends speech at the cut
        event = SpeechEnded(self._open.index, _seconds(self._open.start), _seconds(end), audio,
                            cause, _seconds(speech_end))
        self._buffer.drop_before(end)
        self._open = None
        self._window.clear()
        return event

    def _cut(self, frame_index: int) -> list[Event]:
        """Forced end at the quietest recent frame; speech after it opens the next utterance."""
        assert self._open is not None
        frames_in_utterance = frame_index + 1 - -(-self._open.start // self._frame)
        recent = list(self._recent)[-frames_in_utterance:]
        energies = np.array([energy for _, energy in recent])
        # The latest of equally quiet frames, so the utterance keeps as much as it can.
        quietest = len(recent) - 1 - int(np.argmin(energies[::-1]))
        cut = (frame_index + 1 - len(recent) + quietest + 1) * self._frame
        events: list[Event] = [self._close(cut, "max_utterance")]
        after = [voiced for voiced, _ in recent[quietest + 1 :]]
        if any(after):
            last_voiced = len(after) - 1 - after[::-1].index(True)
            events.append(self._start(cut, cut + (last_voiced + 1) * self._frame,
                                      len(after) - 1 - last_voiced, cut))
        return events


def _samples(ms: int) -> int:
    return SAMPLE_RATE_HZ * ms // 1000


def _seconds(samples: int) -> float:
    return samples / SAMPLE_RATE_HZ
