"""Encoding synthesized audio for the wire: LINEAR16, WAV or mu-law, at the requested rate."""

from __future__ import annotations

import io
import wave

import numpy as np
import soxr

from voxserve.server.errors import InvalidArgument

OUTPUT_ENCODINGS = ("linear16", "wav", "mulaw")
MIN_RATE_HZ, MAX_RATE_HZ = 8000, 48000


def check_output(encoding: str, sample_rate_hz: int) -> None:
    if encoding not in OUTPUT_ENCODINGS:
        raise InvalidArgument(f"output encoding {encoding} is not supported; use LINEAR16, WAV or MULAW")
    if sample_rate_hz and not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise InvalidArgument(
            f"sample_rate_hz {sample_rate_hz} is out of range {MIN_RATE_HZ}..{MAX_RATE_HZ}"
        )


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    if from_hz == to_hz or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    return soxr.resample(samples, from_hz, to_hz, quality="HQ").astype(np.float32, copy=False)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")


def mulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 mu-law, as the ITU table does it: bias 0x84, clip 32635, bits inverted."""
    pcm = to_pcm16(samples).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def wav_bytes(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(to_pcm16(samples).tobytes())
    return buffer.getvalue()


def encode(samples: np.ndarray, encoding: str, sample_rate_hz: int) -> bytes:
    """float32 mono in [-1, 1] -> bytes in `encoding`."""
    if encoding == "wav":
        return wav_bytes(samples, sample_rate_hz)
    if encoding == "mulaw":
        return mulaw_encode(samples)
    return to_pcm16(samples).tobytes()


def bytes_per_second(encoding: str, sample_rate_hz: int) -> int:
    return sample_rate_hz * (1 if encoding == "mulaw" else 2)
