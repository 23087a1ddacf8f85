"""Sample codecs: LINEAR16 and G.711 mu-law against the reference g711.c values."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from voxserve.server.audio.codecs import (
    alaw_to_float,
    float_to_alaw,
    float_to_mulaw,
    float_to_pcm16,
    mix_to_mono,
    mulaw_to_float,
    pcm16_to_float,
)

# Values from Sun's g711.c (the reference sox, ffmpeg and CPython's audioop follow).
PCM_IN = [-32768, -32124, -32636, -1000, -33, -32, -4, -1, 0, 1, 4, 31, 32, 1000, 32632, 32124,
          32767]
MULAW_OUT = [0x00, 0x00, 0x00, 0x4E, 0x7A, 0x7B, 0x7E, 0x7E, 0xFF, 0xFF, 0xFE, 0xFB, 0xFB, 0xCE,
             0x80, 0x80, 0x80]
CODES_IN = [0x00, 0x0F, 0x10, 0x7E, 0x7F, 0x80, 0x8F, 0xFE, 0xFF]
PCM_OUT = [-32124, -16764, -15996, -8, 0, 32124, 16764, 8, 0]


def _pcm(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.float32) / 32768


# A-law by the same g711.c (linear2alaw of PCM_IN, alaw2linear of ALAW_CODES_IN), as CPython's
# audioop gives them.
ALAW_OUT = [0x2A, 0x2A, 0x2A, 0x7A, 0x57, 0x54, 0x55, 0x55, 0xD5, 0xD5, 0xD5, 0xD4, 0xD7,
            0xFA, 0xAA, 0xAA, 0xAA]
ALAW_CODES_IN = [0x00, 0x2A, 0x55, 0x80, 0xAA, 0xD5, 0xFF]
ALAW_PCM_OUT = [-5504, -32256, -8, 5504, 32256, 8, 848]


def test_alaw_encode_matches_g711_reference_values() -> None:
    assert list(float_to_alaw(_pcm(PCM_IN))) == ALAW_OUT


def test_alaw_decode_matches_g711_reference_values() -> None:
    decoded = alaw_to_float(bytes(ALAW_CODES_IN))
    assert decoded.dtype == np.float32
    assert (decoded * 32768).astype(np.int32).tolist() == ALAW_PCM_OUT


def test_every_alaw_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    assert float_to_alaw(alaw_to_float(codes)) == codes


def test_alaw_matches_audioop_on_every_16_bit_value() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # in the standard library until Python 3.13
    pcm = np.arange(-32768, 32768, dtype=np.int32)
    assert float_to_alaw(pcm.astype(np.float32) / 32768) == audioop.lin2alaw(
        pcm.astype("<i2").tobytes(), 2)
    codes = bytes(range(256))
    assert (alaw_to_float(codes) * 32768).astype("<i2").tobytes() == audioop.alaw2lin(codes, 2)


def test_mulaw_encode_matches_g711_reference_values() -> None:
    assert list(float_to_mulaw(_pcm(PCM_IN))) == MULAW_OUT


def test_mulaw_decode_matches_g711_reference_values() -> None:
    decoded = mulaw_to_float(bytes(CODES_IN))
    assert decoded.dtype == np.float32
    assert (decoded * 32768).astype(np.int32).tolist() == PCM_OUT


def test_every_mulaw_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    # 0x7F is G.711's "negative zero": it decodes to 0, which encodes as 0xFF.
    expected = bytes(0xFF if code == 0x7F else code for code in range(256))
    assert float_to_mulaw(mulaw_to_float(codes)) == expected


def test_mulaw_round_trip_error_stays_within_the_segment_step() -> None:
    samples = np.linspace(-0.99, 0.99, 20001, dtype=np.float32)
    back = mulaw_to_float(float_to_mulaw(samples))
    # mu-law keeps about 2.5% relative precision above the small-signal floor.
    error = np.abs(back - samples)
    assert np.all(error <= np.maximum(0.04 * np.abs(samples), 2e-3))
    assert np.array_equal(np.sign(back[np.abs(samples) > 1e-3]),
                          np.sign(samples[np.abs(samples) > 1e-3]))


def test_mulaw_matches_audioop_on_every_16_bit_value() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # removed from the stdlib in Python 3.13
    pcm = np.arange(-32768, 32768, dtype="<i2")
    assert float_to_mulaw(pcm.astype(np.float32) / 32768) == audioop.lin2ulaw(pcm.tobytes(), 2)
    codes = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype="<i2")
    assert np.array_equal((mulaw_to_float(codes) * 32768).astype("<i2"), expected)


def test_pcm16_round_trip_is_exact() -> None:
    pcm = np.arange(-32768, 32768, dtype="<i2")
    assert float_to_pcm16(pcm16_to_float(pcm.tobytes())) == pcm.tobytes()


def test_pcm16_encode_rounds_and_clips() -> None:
    encoded = np.frombuffer(float_to_pcm16(np.array([1.5, -1.5, 0.5, 1 / 65536 + 1e-7])), "<i2")
    assert encoded.tolist() == [32767, -32768, 16384, 1]


def test_pcm16_decode_reads_little_endian() -> None:
    assert pcm16_to_float(b"\x00\x40\x00\xc0\xff\x7f").tolist() == [0.5, -0.5, 32767 / 32768]


def test_mix_to_mono_averages_interleaved_channels() -> None:
    interleaved = np.array([1.0, 0.0, 0.5, 0.5, -1.0, 0.0], dtype=np.float32)
    assert mix_to_mono(interleaved, 2).tolist() == [0.5, 0.5, -0.5]
    assert mix_to_mono(interleaved, 3).tolist() == pytest.approx([0.5, -1 / 6])
    assert mix_to_mono(interleaved, 1) is interleaved
