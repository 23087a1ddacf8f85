"""Synthesized audio for the wire: LINEAR16, WAV, mu-law or A-law, at the requested rate."""

from __future__ import annotations

import io
import wave

import numpy as np

from voxserve.server.audio.codecs import float_to_alaw, float_to_mulaw, float_to_pcm16
from voxserve.server.errors import InvalidArgument

OUTPUT_ENCODINGS = ("linear16", "wav", "mulaw", "alaw")
MIN_RATE_HZ, MAX_RATE_HZ = 8000, 48000


def check_output(encoding: str, sample_rate_hz: int) -> None:
    if encoding not in OUTPUT_ENCODINGS:
        raise InvalidArgument(
            f"output encoding {encoding} is not supported; use LINEAR16, MULAW or ALAW"
        )
    if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise InvalidArgument(
            f"sample_rate_hz {sample_rate_hz} is out of range {MIN_RATE_HZ}..{MAX_RATE_HZ}"
        )


def wav_bytes(samples: np.ndarray, sample_rate_hz: int) -> bytes:
    return wav_from_pcm16(float_to_pcm16(samples), sample_rate_hz)


def wav_from_pcm16(pcm: bytes, sample_rate_hz: int) -> bytes:
    """LINEAR16 mono bytes in a WAV container."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm)
    return buffer.getvalue()


def encode(samples: np.ndarray, encoding: str, sample_rate_hz: int) -> bytes:
    """float32 mono in [-1, 1] -> bytes in `encoding`."""
    if encoding == "wav":
        return wav_bytes(samples, sample_rate_hz)
    if encoding == "mulaw":
        return float_to_mulaw(samples)
    if encoding == "alaw":
        return float_to_alaw(samples)
    return float_to_pcm16(samples)


def bytes_per_sample(encoding: str) -> int:
    return 1 if encoding in ("mulaw", "alaw") else 2
