"""Cutting a window's tokens into timed segments and choosing where the next window starts."""

from __future__ import annotations

from dataclasses import dataclass, field

from voxserve.server.asr.decoding import TIME_PRECISION_S
from voxserve.server.asr.features import FRAMES_PER_SECOND
from voxserve.server.asr.types import Word

_FRAMES_PER_POSITION = 2  # the encoder's stride-2 convolution: two mel frames per timestamp step


@dataclass
class DraftSegment:
    """A segment while its window is processed (word timing may still move its bounds)."""

    start_s: float
    end_s: float
    tokens: list[int]
    words: list[Word] = field(default_factory=list)
    first_token: int = 0  # index of tokens[0] in the window's tokens (for their scores)


@dataclass(frozen=True)
class WindowSplit:
    """The segments found in one window and where decoding continues (in mel frames)."""

    segments: tuple[DraftSegment, ...]
    next_seek: int
    single_timestamp_ending: bool


def split_window(tokens: list[int], timestamp_begin: int, seek: int,
                 segment_frames: int) -> WindowSplit:
    """Whisper's rule: segments between consecutive timestamp pairs; an unfinished last
    segment is dropped and the next window starts at the last complete timestamp, so the audio
    after it is decoded again (also in the last window, also when decoding stopped at the token
    budget: nothing after the last good timestamp is skipped)."""
    is_ts = [t >= timestamp_begin for t in tokens]
    single_ending = is_ts[-2:] == [False, True]
    consecutive = [i + 1 for i in range(len(tokens) - 1) if is_ts[i] and is_ts[i + 1]]
    if not consecutive:
        return _unsplit(tokens, timestamp_begin, seek, segment_frames, single_ending)
    offset_s = seek / FRAMES_PER_SECOND
    slices = consecutive + ([len(tokens)] if single_ending else [])
    segments = []
    last = 0
    for cut in slices:
        part = tokens[last:cut]
        segments.append(
            DraftSegment(
                start_s=offset_s + (part[0] - timestamp_begin) * TIME_PRECISION_S,
                end_s=offset_s + (part[-1] - timestamp_begin) * TIME_PRECISION_S,
                tokens=part,
                first_token=last,
            )
        )
        last = cut
    if single_ending:
        next_seek = seek + segment_frames
    else:
        next_seek = seek + (tokens[last - 1] - timestamp_begin) * _FRAMES_PER_POSITION
    if next_seek <= seek:  # never stall: a window must always move on
        next_seek = seek + segment_frames
    return WindowSplit(tuple(segments), next_seek, single_ending)


def _unsplit(tokens: list[int], timestamp_begin: int, seek: int, segment_frames: int,
             single_ending: bool) -> WindowSplit:
    """No timestamp pair: the whole window is one segment, ended by its last timestamp if any."""
    duration_s = segment_frames / FRAMES_PER_SECOND
    stamps = [t for t in tokens if t >= timestamp_begin]
    if stamps and stamps[-1] != timestamp_begin:
        duration_s = (stamps[-1] - timestamp_begin) * TIME_PRECISION_S
    offset_s = seek / FRAMES_PER_SECOND
    segment = DraftSegment(start_s=offset_s, end_s=offset_s + duration_s, tokens=list(tokens))
    return WindowSplit((segment,), seek + segment_frames, single_ending)
