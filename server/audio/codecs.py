"""Raw sample codecs: 16-bit linear PCM, G.711 mu-law and A-law, to and from float32 in [-1, 1]."""

from __future__ import annotations

import numpy as np

BytesLike = bytes | bytearray | memoryview

# G.711 mu-law as in Sun's reference g711.c (which sox, ffmpeg and CPython's audioop follow):
# the bias added before the segment search and the clip level, in 16-bit and 14-bit units.
_MULAW_BIAS = 0x84
_MULAW_BIAS_14 = _MULAW_BIAS >> 2
_MULAW_CLIP_14 = 8159
_PCM16_SCALE = 32768.0
# G.711 A-law as in the same g711.c: even bits inverted on the wire (0x55), segment ends in
# 13-bit units.
_ALAW_XOR = 0x55
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _mulaw_table() -> np.ndarray:
    """The 256 mu-law codes decoded to 16-bit PCM values (int16)."""
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(codes & 0x80, -magnitude, magnitude).astype(np.int16)


_MULAW_TO_PCM16 = _mulaw_table()


def _alaw_table() -> np.ndarray:
    """The 256 A-law codes decoded to 16-bit PCM values (int16), as g711.c's alaw2linear."""
    codes = np.arange(256, dtype=np.int32) ^ _ALAW_XOR
    segment = (codes & 0x70) >> 4
    magnitude = ((codes & 0x0F) << 4) + np.where(segment == 0, 8, 0x108)
    magnitude = np.where(segment > 1, magnitude << np.maximum(segment - 1, 0), magnitude)
    return np.where(codes & 0x80, magnitude, -magnitude).astype(np.int16)


_ALAW_TO_PCM16 = _alaw_table()


def pcm16_to_float(data: BytesLike) -> np.ndarray:
    """Little-endian signed 16-bit samples -> float32 in [-1, 1). Needs an even byte count."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(_PCM16_SCALE)


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples -> little-endian signed 16-bit bytes, rounded and clipped to full scale."""
    scaled = np.rint(np.asarray(samples, dtype=np.float64) * _PCM16_SCALE)
    return np.clip(scaled, -32768, 32767).astype("<i2").tobytes()


def mulaw_to_float(data: BytesLike) -> np.ndarray:
    """G.711 mu-law bytes -> float32 in [-1, 1)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _MULAW_TO_PCM16[codes].astype(np.float32) / np.float32(_PCM16_SCALE)


def float_to_mulaw(samples: np.ndarray) -> bytes:
    """float32 samples -> G.711 mu-law bytes (8 bits a sample), bit-exact with g711.c."""
    pcm = np.rint(np.asarray(samples, dtype=np.float64) * _PCM16_SCALE)
    pcm14 = np.clip(pcm, -32768, 32767).astype(np.int32) >> 2  # g711.c works on 14 bits
    mask = np.where(pcm14 < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm14), _MULAW_CLIP_14) + _MULAW_BIAS_14
    # The segment is where the highest set bit sits above bit 5; g711.c maps segment 8 (only
    # reached at full scale) to the largest code, 0x7F.
    segment = np.maximum(np.floor(np.log2(magnitude)).astype(np.int32) - 5, 0)
    codes = (np.minimum(segment, 7) << 4) | ((magnitude >> (np.minimum(segment, 7) + 1)) & 0x0F)
    codes = np.where(segment > 7, 0x7F, codes)
    return (codes ^ mask).astype(np.uint8).tobytes()


def alaw_to_float(data: BytesLike) -> np.ndarray:
    """G.711 A-law bytes -> float32 in [-1, 1)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    return _ALAW_TO_PCM16[codes].astype(np.float32) / np.float32(_PCM16_SCALE)


def float_to_alaw(samples: np.ndarray) -> bytes:
    """float32 samples -> G.711 A-law bytes (8 bits a sample), bit-exact with g711.c."""
    pcm = np.rint(np.asarray(samples, dtype=np.float64) * _PCM16_SCALE)
    pcm13 = np.clip(pcm, -32768, 32767).astype(np.int32) >> 3  # g711.c works on 13 bits
    mask = np.where(pcm13 >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm13 >= 0, pcm13, -pcm13 - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, magnitude)  # first end >= magnitude
    shift = np.where(segment < 2, 1, segment)
    codes = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    codes = np.where(segment > 7, 0x7F, codes)
    return (codes ^ mask).astype(np.uint8).tobytes()


def mix_to_mono(frames: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved samples (length a multiple of `channels`) -> their per-frame mean, float32."""
    if channels == 1:
        return frames.astype(np.float32, copy=False)
    return frames.reshape(-1, channels).mean(axis=1, dtype=np.float32)
