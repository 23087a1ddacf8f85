"""Round trip: the joe voice speaks a paragraph, our own Whisper recognizer writes it back down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.speech import sentences
from tests.wer import wer
from voxserve.server.asr.types import TranscribeOptions
from voxserve.server.asr.whisper import WhisperRecognizer
from voxserve.server.audio.resample import resample
from voxserve.server.repository import read_manifest
from voxserve.server.runtime import RuntimeOptions
from voxserve.server.tts.piper import PiperVoice
from voxserve.server.tts.types import SynthesisOptions

RUNTIME = RuntimeOptions(device="cpu")
# Measured on this paragraph (tests/data/sentences.txt, 93 words): 0.000 with noise 0; with
# the voice's default noise, 0.032 and 0.065 on two runs.
MAX_WER = 0.10

pytestmark = pytest.mark.slow  # the real default models, from `make models`


def test_synthesized_paragraph_is_transcribed_back(models_dir: Path) -> None:
    voice_dir, asr_dir = models_dir / "en_US-joe-medium", models_dir / "whisper-tiny.en"
    voice = PiperVoice.load(voice_dir, read_manifest(voice_dir), RUNTIME)
    recognizer = WhisperRecognizer.load(asr_dir, read_manifest(asr_dir), RUNTIME)
    paragraph = " ".join(sentences())
    # noise 0: the same audio, and so the same transcript, on every run
    audio = voice.synthesize(paragraph, SynthesisOptions(noise_scale=0.0, noise_w=0.0))
    audio_16k = resample(audio, voice.info.sample_rate_hz, 16000).astype(np.float32)
    transcript = recognizer.transcribe(audio_16k, TranscribeOptions(language="en"))
    error = wer([paragraph], [transcript.text])
    assert error <= MAX_WER, f"WER {error:.3f}: {transcript.text!r}"
