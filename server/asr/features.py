"""Whisper's log-mel front end in numpy: 16 kHz, 25 ms Hann window, 10 ms hop, Slaney mel bins."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np

from voxserve.server.audio.resample import TARGET_RATE_HZ as SAMPLE_RATE_HZ

N_FFT = 400  # whisper: 25 ms window at 16 kHz
HOP_LENGTH = 160  # whisper: 10 ms hop -> 100 frames per second
FRAMES_PER_SECOND = SAMPLE_RATE_HZ // HOP_LENGTH
_LOG_FLOOR = 1e-10  # whisper clamps the mel power before log10
_DYNAMIC_RANGE_LOG10 = 8.0  # whisper keeps 80 dB below the loudest bin
BLOCK_FRAMES = 1000  # 10 s of frames per STFT block: about 25 ms of CPU, 3 MiB of spectrum


def _hz_to_mel(freq_hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa htk=False): linear to 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    mels = freq_hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        freq_hz >= min_log_hz,
        min_log_mel + np.log(np.maximum(freq_hz, min_log_hz) / min_log_hz) / logstep,
        mels,
    )


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Inverse of `_hz_to_mel`."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels
    )


@functools.cache
def mel_filters(n_mels: int) -> np.ndarray:
    """The [n_mels, N_FFT/2+1] filterbank of librosa.filters.mel(sr=16000, n_fft=400, n_mels)."""
    fft_freqs_hz = np.fft.rfftfreq(N_FFT, d=1.0 / SAMPLE_RATE_HZ)
    edges_mel = np.linspace(0.0, _hz_to_mel(np.array(SAMPLE_RATE_HZ / 2)), n_mels + 2)
    edges_hz = _mel_to_hz(edges_mel)
    widths_hz = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_freqs_hz[None, :]
    lower = -ramps[:-2] / widths_hz[:-1, None]
    upper = ramps[2:] / widths_hz[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    # Slaney normalisation: each band has about constant energy
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    filters = weights.astype(np.float32)
    filters.setflags(write=False)
    return filters


@functools.cache
def _hann_window() -> np.ndarray:
    """Periodic Hann window, as torch.hann_window(400) builds it."""
    n = np.arange(N_FFT)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)
    window.setflags(write=False)
    return window


def _power_blocks(audio: np.ndarray) -> Iterator[np.ndarray]:
    """|STFT|^2 as torch.stft(center=True, reflect) gives it, last frame dropped, in blocks of
    BLOCK_FRAMES frames, first to last: [201, frames] each, n//160 frames in all."""
    n_frames = len(audio) // HOP_LENGTH
    if n_frames == 0:
        return
    half = N_FFT // 2
    samples = audio.astype(np.float64)
    if len(audio) > half:
        padded = np.pad(samples, (half, half), mode="reflect")
    else:  # too short to reflect
        padded = np.pad(samples, (half, half))
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH][:n_frames]
    for start in range(0, n_frames, BLOCK_FRAMES):
        spectrum = np.fft.rfft(frames[start : start + BLOCK_FRAMES] * _hann_window(), axis=-1)
        yield (spectrum.real**2 + spectrum.imag**2).T


def log_mel_spectrogram(audio: np.ndarray, n_mels: int = 80, padding: int = 0,
                        between_blocks: Callable[[], None] | None = None) -> np.ndarray:
    """Whisper's normalised log-mel, float32 [n_mels, (len(audio)+padding)//160].

    `padding` appends that many zero samples first, as whisper does before slicing windows, so
    the frames at the end of the audio see silence after it rather than a reflection.
    `between_blocks` is called before each block of BLOCK_FRAMES frames (a long recording's
    mel takes a few hundred ms of CPU: a call that went away stops it there).
    """
    samples = np.asarray(audio, dtype=np.float32)
    if padding > 0:
        samples = np.concatenate([samples, np.zeros(padding, dtype=np.float32)])
    filters = mel_filters(n_mels).astype(np.float64)
    blocks = []
    for power in _power_blocks(samples):
        if between_blocks is not None:
            between_blocks()
        blocks.append(filters @ power)
    mel = np.concatenate(blocks, axis=1) if blocks else np.zeros((n_mels, 0))
    log_spec = np.log10(np.maximum(mel, _LOG_FLOOR))
    if log_spec.size:
        log_spec = np.maximum(log_spec, log_spec.max() - _DYNAMIC_RANGE_LOG10)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)
