"""Compressed recordings (MP3, AAC/M4A, Ogg Vorbis/Opus, WebM, AIFF) decoded by PyAV (FFmpeg)."""

from __future__ import annotations

import io
import itertools

import av
import numpy as np

from voxserve.server.errors import InvalidAudio, LimitExceeded


def decode_compressed(data: bytes, name: str,
                      max_duration_s: float | None) -> tuple[np.ndarray, int]:
    """All samples of the first audio stream as float32 [n, channels], and their rate in Hz.

    `name` says what the bytes were sniffed as ("MP3", "Ogg", ...) for messages. Raises
    InvalidAudio naming the problem (FFmpeg's own reason, never a path), LimitExceeded as soon
    as the decoded audio passes `max_duration_s`.
    """
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise InvalidAudio(f"{name} file holds no audio stream")
            return _decode_stream(container, name, max_duration_s)
    except av.FFmpegError as exc:
        raise InvalidAudio(f"{name} audio is truncated or corrupt: {_reason(exc)}") from exc


def _decode_stream(container: av.container.InputContainer, name: str,
                   max_duration_s: float | None) -> tuple[np.ndarray, int]:
    stream = container.streams.audio[0]
    # planar float at the stream's own rate and layout: mixing and resampling stay ours, the
    # same as for WAV and FLAC
    converter = av.AudioResampler(format="fltp")
    blocks: list[np.ndarray] = []
    total, rate_hz = 0, 0
    for frame in itertools.chain(container.decode(stream), [None]):  # None flushes the converter
        for converted in converter.resample(frame):
            block = converted.to_ndarray()  # [channels, samples]
            rate_hz = rate_hz or converted.sample_rate
            if converted.sample_rate != rate_hz or (blocks and len(block) != len(blocks[0])):
                raise InvalidAudio(f"{name} audio changes its rate or channels mid-stream")
            blocks.append(block)
            total += block.shape[1]
            if max_duration_s is not None and total / rate_hz > max_duration_s:
                raise LimitExceeded(f"audio is longer than the limit of {max_duration_s:g} s")
    if not blocks:
        raise InvalidAudio(f"{name} file holds no audio samples")
    frames = np.concatenate(blocks, axis=1).T.astype(np.float32, copy=False)
    return np.ascontiguousarray(frames), rate_hz


def _reason(exc: av.FFmpegError) -> str:
    """FFmpeg's explanation ("Invalid data found when processing input"), without the file."""
    return str(getattr(exc, "strerror", "") or "unreadable")
