"""Resampling: one-shot and streaming with soxr, and raw live chunks split anywhere."""

from __future__ import annotations

import numpy as np
import pytest

from voxserve.server.audio.codecs import float_to_mulaw, float_to_pcm16
from voxserve.server.audio.decode import StreamDecoder, decode_recording
from voxserve.server.audio.resample import StreamResampler, resample
from voxserve.server.errors import InvalidAudio


def _signal(rate_hz: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Two tones plus a little noise, well inside the 8 kHz band of the 16 kHz output."""
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    noise = np.random.default_rng(seed).standard_normal(t.size) * 0.01
    return (0.4 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 2500 * t)
            + noise).astype(np.float32)


def _chunks(samples: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    out, i, k = [], 0, 0
    while i < len(samples):
        out.append(samples[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    return out


@pytest.mark.parametrize("rate_hz", [8000, 11025, 22050, 44100, 48000])
def test_one_shot_resample_keeps_tones_and_length(rate_hz: int) -> None:
    out = resample(_signal(rate_hz, 1.0), rate_hz)
    assert out.dtype == np.float32
    assert len(out) == 16000
    spectrum = np.abs(np.fft.rfft(out))
    assert sorted(np.argsort(spectrum)[-2:].tolist()) == [300, 2500]  # 1 Hz bins over 1 s


def test_one_shot_at_the_target_rate_is_the_same_array() -> None:
    samples = _signal(16000, 0.1)
    assert resample(samples, 16000) is samples


@pytest.mark.parametrize("rate_hz", [8000, 44100, 48000])
@pytest.mark.parametrize("sizes", [[160], [480, 1, 7919], [2048, 333]])
def test_stream_resampler_in_chunks_equals_one_shot(rate_hz: int, sizes: list[int]) -> None:
    samples = _signal(rate_hz, 1.3, seed=rate_hz)
    resampler = StreamResampler(rate_hz)
    pieces = [resampler.push(chunk) for chunk in _chunks(samples, sizes)]
    streamed = np.concatenate([*pieces, resampler.flush()])
    whole = resample(samples, rate_hz)
    assert len(streamed) == len(whole)
    # No clicks at chunk edges: the filter state carries over, so the streams agree sample
    # for sample up to float rounding.
    assert np.abs(streamed - whole).max() < 1e-5


def test_stream_resampler_passes_16k_through_and_refuses_use_after_flush() -> None:
    resampler = StreamResampler(16000)
    chunk = _signal(16000, 0.1)
    assert np.array_equal(resampler.push(chunk), chunk)
    assert resampler.flush().size == 0
    with pytest.raises(RuntimeError):
        resampler.push(chunk)


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(data):
        out.append(data[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    return out


def _stream(decoder: StreamDecoder, chunks: list[bytes]) -> np.ndarray:
    return np.concatenate([*(decoder.push(chunk) for chunk in chunks), decoder.flush()])


@pytest.mark.parametrize(
    ("encoding", "rate_hz", "channels"),
    [("linear16", 16000, 1), ("linear16", 48000, 2), ("linear16", 44100, 3), ("mulaw", 8000, 1),
     ("mulaw", 8000, 2)],
)
def test_stream_decoder_gives_the_same_samples_for_any_split(
    encoding: str, rate_hz: int, channels: int
) -> None:
    frames = np.stack([_signal(rate_hz, 1.0, seed=c) for c in range(channels)], axis=1)
    encode = float_to_pcm16 if encoding == "linear16" else float_to_mulaw
    data = encode(frames.reshape(-1))
    whole = _stream(StreamDecoder(encoding, rate_hz, channels), [data])
    # Odd splits cut through samples and multi-channel frames.
    for sizes in ([1, 2, 1021], [3, 5, 7, 997], [641, 1279], [rate_hz // 25 * channels]):
        split = _stream(StreamDecoder(encoding, rate_hz, channels), _split(data, sizes))
        assert np.array_equal(split, whole)
    # ... and equal the recording decoder's one-shot result on the same bytes.
    recording = decode_recording(data, encoding, rate_hz, channels).samples
    assert len(whole) == len(recording)
    assert np.abs(whole - recording).max() < 1e-5


def test_stream_decoder_holds_split_frames_until_complete() -> None:
    decoder = StreamDecoder("linear16", 16000, 2)
    assert decoder.push(b"\x00\x40\x00").size == 0
    assert decoder.pending_bytes == 3
    assert decoder.push(b"\x40").tolist() == [0.5]
    assert decoder.pending_bytes == 0


def test_stream_decoder_validates_its_layout() -> None:
    with pytest.raises(InvalidAudio, match="sample_rate_hz must be 8000 to 48000"):
        StreamDecoder("linear16", 7999, 1)
    with pytest.raises(InvalidAudio, match="audio_channel_count must be 1 to 8"):
        StreamDecoder("mulaw", 8000, 0)
    with pytest.raises(InvalidAudio, match="must be LINEAR16, MULAW or ALAW"):
        StreamDecoder("wav", 16000, 1)
