"""Playback of synthesized audio on the default output device (sounddevice / PortAudio)."""

from __future__ import annotations

import numpy as np


def play_pcm16(pcm16: bytes, sample_rate_hz: int) -> None:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: PortAudio library missing
        raise OSError(f"playback needs sounddevice and PortAudio: {exc}") from exc
    samples = np.frombuffer(pcm16, dtype="<i2")
    sounddevice.play(samples, samplerate=sample_rate_hz, blocking=True)
