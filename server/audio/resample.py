"""Sample-rate conversion with soxr: one-shot for recordings, stateful for live streams."""

from __future__ import annotations

import numpy as np
import soxr

# The one sample rate of every engine input: Whisper, WebRTC VAD and Silero VAD run at 16 kHz;
# client audio is resampled to it and the engines import it from here.
TARGET_RATE_HZ = 16000
# soxr's "HQ" preset: 20-bit precision and a steep band edge, cheap enough for live audio.
_QUALITY = "HQ"


def resample(samples: np.ndarray, from_hz: int, to_hz: int = TARGET_RATE_HZ) -> np.ndarray:
    """Mono float32 samples at `from_hz` -> float32 at `to_hz` (the same array if equal)."""
    samples = np.asarray(samples, dtype=np.float32)
    if from_hz == to_hz or samples.size == 0:
        return samples
    return np.asarray(soxr.resample(samples, from_hz, to_hz, quality=_QUALITY), dtype=np.float32)


class StreamResampler:
    """Resamples a live mono stream chunk by chunk; the filter state carries across chunks.

    Pushing a signal in any split gives the same samples as `resample` on the whole signal, so
    chunk edges leave no clicks. `flush()` drains the filter's delay line at the end.
    """

    def __init__(self, from_hz: int, to_hz: int = TARGET_RATE_HZ) -> None:
        if from_hz <= 0 or to_hz <= 0:
            raise ValueError(f"sample rates must be positive, not {from_hz} -> {to_hz}")
        self.from_hz = from_hz
        self.to_hz = to_hz
        self._stream = (
            None
            if from_hz == to_hz
            else soxr.ResampleStream(from_hz, to_hz, 1, dtype="float32", quality=_QUALITY)
        )
        self._flushed = False

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Resample the next chunk; returns what the filter has ready (may be empty)."""
        if self._flushed:
            raise RuntimeError("push() after flush()")
        samples = np.asarray(samples, dtype=np.float32)
        if self._stream is None or samples.size == 0:
            return samples
        return self._stream.resample_chunk(samples)

    def flush(self) -> np.ndarray:
        """The samples still held in the filter; the stream is finished afterwards."""
        if self._flushed:
            raise RuntimeError("flush() called twice")
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
