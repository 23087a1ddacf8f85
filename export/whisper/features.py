"""Whisper's log-mel front end in numpy, for the parity audio (the server computes its own).

openai/whisper audio.py: 16 kHz, 25 ms Hann window (n_fft 400), 10 ms hop (160), 80 Slaney mel
bins, power spectrum, log10 clamped to (max - 8), then (x + 4) / 4.
"""

from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE_HZ = 16000
N_FFT = 400
HOP_SAMPLES = 160


@functools.cache
def mel_filters(n_mels: int = 80) -> np.ndarray:
    """Slaney-scale, Slaney-normalised triangular filters [n_mels, 1 + n_fft/2] (librosa's)."""
    fft_hz = np.linspace(0.0, SAMPLE_RATE_HZ / 2, 1 + N_FFT // 2)
    mel_hz = _mel_to_hz(np.linspace(0.0, _hz_to_mel(SAMPLE_RATE_HZ / 2), n_mels + 2))
    spacing_hz = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / spacing_hz[:-1, None]
    upper = ramps[2:] / spacing_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    return weights.astype(np.float32)


# Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above (librosa)
_F_SP_HZ = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP_HZ
_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: float) -> float:
    if hz < _MIN_LOG_HZ:
        return hz / _F_SP_HZ
    return float(_MIN_LOG_MEL + np.log(hz / _MIN_LOG_HZ) / _LOG_STEP)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = _F_SP_HZ * mel
    log = _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)


def log_mel(samples: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """16 kHz float samples -> [n_mels, len(samples) // 160] log-mel, as openai computes it."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1 or audio.size <= N_FFT // 2:
        raise ValueError(f"need mono audio longer than {N_FFT // 2} samples")
    padded = np.pad(audio, N_FFT // 2, mode="reflect")
    n_frames = 1 + (padded.size - N_FFT) // HOP_SAMPLES
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_SAMPLES][:n_frames]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    power = np.abs(np.fft.rfft(frames * window, axis=-1)) ** 2
    mel = mel_filters(n_mels) @ power[:-1].T.astype(np.float32)  # openai drops the last frame
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def even_frames(mel: np.ndarray) -> np.ndarray:
    """Drop a trailing frame if needed: the encoder's stride-2 conv takes an even count."""
    return mel[:, : mel.shape[1] - mel.shape[1] % 2]
