"""Test speech with known text: espeak-ng voices, the Piper joe voice, and WAV helpers."""

from __future__ import annotations

import functools
import io
import subprocess
import wave
from pathlib import Path

import numpy as np
import soxr

DATA = Path(__file__).resolve().parent / "data"
RATE_HZ = 16000


def sentences() -> list[str]:
    return DATA.joinpath("sentences.txt").read_text().strip().splitlines()


@functools.cache
def espeak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """`text` spoken by espeak-ng, float32 mono at 16 kHz."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute), text],
        check=True, capture_output=True,
    ).stdout
    samples, rate = read_wav(wav)
    return soxr.resample(samples, rate, RATE_HZ).astype(np.float32)


@functools.cache
def piper(text: str) -> np.ndarray:
    """`text` spoken by the Piper joe voice with its noise off (the same audio on every run),
    float32 mono at 16 kHz: the exporter's parity speech, made by the server's voice engine."""
    # imported here: it loads ONNX Runtime and espeak-ng, which most users of this module skip
    from voxserve.export.whisper.speech import synthesize

    return synthesize(text).samples


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and rate of a 16-bit PCM WAV (espeak's streamed header is fixed up)."""
    with wave.open(io.BytesIO(_fix_stream_header(data))) as wav:
        frames = wav.readframes(wav.getnframes())
        rate, channels = wav.getframerate(), wav.getnchannels()
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


def _fix_stream_header(data: bytes) -> bytes:
    # espeak-ng --stdout writes 0xFFFFFFFF sizes since it cannot seek back.
    if data[4:8] == b"\xff\xff\xff\xff":
        data = data[:4] + (len(data) - 8).to_bytes(4, "little") + data[8:40] + \
            (len(data) - 44).to_bytes(4, "little") + data[44:]
    return data


def wav_bytes(samples: np.ndarray, rate_hz: int = RATE_HZ, channels: int = 1) -> bytes:
    """16-bit PCM WAV; `samples` is [n] or [n, channels] float32."""
    pcm = (np.clip(samples, -1, 1) * 32767).round().astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE_HZ), dtype=np.float32)


def noise(seconds: float, rms: float = 0.05, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE_HZ)) * rms).astype(
        np.float32)


def join(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts).astype(np.float32)
