"""Whisper log-mel front end: filterbank, STFT framing and normalisation against references."""

import numpy as np
import pytest
import torch

from voxserve.server.asr.features import (
    BLOCK_FRAMES,
    HOP_LENGTH,
    N_FFT,
    log_mel_spectrogram,
    mel_filters,
)

# Entries of librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), as stored in openai-whisper's
# assets/mel_filters.npz: (row, first nonzero column, its nonzero values).
LIBROSA_MEL_80 = [
    (0, 1, [0.02486259490251541]),
    (1, 1, [0.001990821911022067, 0.022871771827340126]),
    (10, 10, [0.01990821771323681, 0.004954374860972166]),
    (40, 42, [0.005411104764789343, 0.014735566452145576, 0.006518189795315266]),
]
LIBROSA_MEL_128_LAST_ROW = (191, [
    0.0004756950947921723, 0.0016171716852113605, 0.002758648479357362, 0.0039001251570880413,
    0.005041601601988077, 0.004457120783627033, 0.003342840587720275, 0.0022285603918135166,
    0.0011142801959067583,
])


def test_filterbank_matches_librosa_slaney() -> None:
    filters = mel_filters(80)
    assert filters.shape == (80, N_FFT // 2 + 1)
    assert filters.dtype == np.float32
    for row, first, values in LIBROSA_MEL_80:
        nonzero = np.nonzero(filters[row])[0]
        assert nonzero.tolist() == list(range(first, first + len(values)))
        np.testing.assert_allclose(filters[row, nonzero], values, rtol=1e-5)
    assert float(filters.sum()) == pytest.approx(1.9990241527557373, rel=1e-5)
    last = mel_filters(128)[127]
    first, values = LIBROSA_MEL_128_LAST_ROW
    assert np.nonzero(last)[0].tolist() == list(range(first, first + len(values)))
    np.testing.assert_allclose(last[first:first + len(values)], values, rtol=1e-5)


def _whisper_reference(audio: np.ndarray, n_mels: int, padding: int) -> np.ndarray:
    """openai-whisper's audio.log_mel_spectrogram (torch.stft), with our filterbank."""
    samples = torch.nn.functional.pad(torch.from_numpy(audio), (0, padding))
    stft = torch.stft(samples, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT),
                      return_complex=True)
    magnitudes = stft[..., :-1].abs() ** 2
    mel = torch.from_numpy(mel_filters(n_mels).copy()) @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy()


def _chirp_with_noise(n_samples: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(n_samples) / 16000
    chirp = 0.4 * np.sin(2 * np.pi * (200 + 900 * t) * t)
    return (chirp + 0.05 * rng.standard_normal(n_samples)).astype(np.float32)


@pytest.mark.parametrize("n_samples,padding", [(16000 * 3 + 77, 0), (16000 * 2, 480000),
                                                (1234, 320)])
def test_log_mel_matches_whisper_formula(n_samples: int, padding: int) -> None:
    audio = _chirp_with_noise(n_samples)
    ours = log_mel_spectrogram(audio, 80, padding)
    reference = _whisper_reference(audio, 80, padding)
    assert ours.shape == reference.shape == (80, (n_samples + padding) // HOP_LENGTH)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference, atol=2e-5)


def test_log_mel_of_silence_is_the_floor() -> None:
    mel = log_mel_spectrogram(np.zeros(16000, dtype=np.float32), 80)
    # log10 clamps at 1e-10 -> (-10 + 4) / 4
    assert mel.shape == (80, 100)
    assert np.all(mel == np.float32(-1.5))


def test_short_audio_gives_no_or_few_frames() -> None:
    assert log_mel_spectrogram(np.zeros(100, dtype=np.float32), 80).shape == (80, 0)
    assert log_mel_spectrogram(np.ones(160, dtype=np.float32) * 0.1, 80).shape == (80, 1)


def test_a_long_recordings_mel_is_made_in_blocks_that_can_be_stopped() -> None:
    audio = _chirp_with_noise(16000 * 25)  # 2,500 frames: three blocks
    calls: list[int] = []
    log_mel_spectrogram(audio, 80, between_blocks=lambda: calls.append(1))
    assert len(calls) == -(-2500 // BLOCK_FRAMES)

    class Gone(Exception):
        pass

    def stop_at_second() -> None:
        calls.append(1)
        if len(calls) > 1:
            raise Gone

    calls.clear()
    with pytest.raises(Gone):
        log_mel_spectrogram(audio, 80, between_blocks=stop_at_second)
    assert len(calls) == 2
