"""A short window's echo on real speech: cut at once when the second saying was heard nowhere,
while speech said twice keeps both sayings (echoes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.real_speech import trimmed
from bench.realspeech import asterisk, available, pause, stereo_channels
from tests.wer import normalise
from voxserve.server.asr import transcription
from voxserve.server.asr.decoding import WindowResult
from voxserve.server.asr.types import TranscribeOptions
from voxserve.server.asr.whisper import WhisperRecognizer
from voxserve.server.repository import with_variant
from voxserve.server.runtime import RuntimeOptions

pytestmark = pytest.mark.skipif(not available(), reason="real speech missing: "
                                "asterisk-core-sounds-en(-wav) and ../shared/speech")

# Prompts whose short window (int8, the CPU default) says the whole sentence again when they end
# with 160 ms of silence, as a live final's audio does (measured: docs/benchmarks.md, issue 14e).
ECHOING = ("info-about-last-call", "vm-msgsaved", "vm-passchanged", "stereo left")
FULL_WINDOW_FRAMES = 3000


@pytest.fixture(scope="module")
def recognizer(models_dir: Path) -> WhisperRecognizer:
    folder = models_dir / "whisper-tiny.en"
    manifest = with_variant(json.loads((folder / "manifest.json").read_text()), "int8")
    return WhisperRecognizer.load(folder, manifest, RuntimeOptions(intra_op_threads=1))


class Watch:
    """What one transcribe did: the short windows' results before any check, and the widths
    of the encoder inputs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, recognizer: WhisperRecognizer) -> None:
        self.short: list[WindowResult] = []
        self.encoded: list[int] = []
        decode = transcription.decode_window
        network = recognizer._network
        encode = network.encode

        def watched_decode(*args: object, **kwargs: object) -> WindowResult:
            result = decode(*args, **kwargs)  # type: ignore[arg-type]
            if self.encoded and self.encoded[-1] < FULL_WINDOW_FRAMES:
                self.short.append(result)
            return result

        def watched_encode(mel: np.ndarray) -> object:
            self.encoded.append(mel.shape[-1])
            return encode(mel)

        monkeypatch.setattr(transcription, "decode_window", watched_decode)
        monkeypatch.setattr(network, "encode", watched_encode)


def live_final_audio(*parts: np.ndarray) -> np.ndarray:
    """A live utterance's audio: 300 ms before the speech, 160 ms of silence after it."""
    return np.concatenate([pause(0.3), *parts, pause(0.16)])


def speech(name: str) -> tuple[np.ndarray, str]:
    clip = stereo_channels()[0] if name == "stereo left" else asterisk(name)
    return trimmed(clip.audio), clip.text


@pytest.mark.parametrize("name", ECHOING)
def test_an_echo_is_cut_without_a_30_s_window(recognizer: WhisperRecognizer,
                                              monkeypatch: pytest.MonkeyPatch,
                                              name: str) -> None:
    audio, text = speech(name)
    watch = Watch(monkeypatch, recognizer)
    result = recognizer.transcribe(live_final_audio(audio), TranscribeOptions(language="en"))
    assert normalise(result.text) == normalise(text)
    # the short window did say it again, and that was cut, not decoded again on 30 s
    assert [r.repeated_end is not None for r in watch.short] == [True]
    assert max(watch.encoded) < FULL_WINDOW_FRAMES
    # the segment keeps its end: the first saying's closing timestamp, or the window's end
    assert result.segments[-1].end_s <= len(live_final_audio(audio)) / 16000


@pytest.mark.parametrize("gap_s", [0.0, 0.1, 0.4])
@pytest.mark.parametrize("name", ECHOING[:3])
def test_speech_said_twice_keeps_both_sayings(recognizer: WhisperRecognizer,
                                              monkeypatch: pytest.MonkeyPatch,
                                              name: str, gap_s: float) -> None:
    audio, text = speech(name)
    watch = Watch(monkeypatch, recognizer)
    result = recognizer.transcribe(live_final_audio(audio, pause(gap_s), audio),
                                   TranscribeOptions(language="en"))
    assert normalise(result.text).count(normalise(text)) == 2, result.text
    # the short window heard it twice too; both sayings were aligned to audio, so the window
    # was decoded again as whisper decodes it
    assert watch.short and watch.short[0].repeated_end is not None
    assert max(watch.encoded) == FULL_WINDOW_FRAMES
