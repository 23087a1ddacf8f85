"""WhisperRecognizer on the real exported tiny.en: accuracy, silence, long audio, word times."""

from __future__ import annotations

import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from tests.speech import espeak, join, noise, piper, sentences, silence
from tests.wer import wer
from voxserve.server.asr.transcription import PAD_MARGIN_FRAMES, window_frames
from voxserve.server.asr.types import TranscribeOptions, Transcript
from voxserve.server.asr.whisper import WhisperRecognizer
from voxserve.server.errors import InvalidArgument, InvalidAudio
from voxserve.server.runtime import RuntimeOptions

# Greedy tiny.en, measured on this machine: espeak-ng (robotic) 0.086-0.097 over
# tests/data/sentences.txt (faster-whisper greedy on the same audio: 0.097), Piper 0.0-0.03.
ESPEAK_WER_BOUND = 0.15
PIPER_WER_BOUND = 0.08
RATE_HZ = 16000


@pytest.fixture(scope="module")
def recognizer(models_dir: Path) -> WhisperRecognizer:
    folder = models_dir / "whisper-tiny.en"
    manifest = json.loads((folder / "manifest.json").read_text())
    return WhisperRecognizer.load(folder, manifest, RuntimeOptions())


def transcribe(recognizer: WhisperRecognizer, audio: np.ndarray, **options: object) -> Transcript:
    return recognizer.transcribe(audio, TranscribeOptions(**options))  # type: ignore[arg-type]


def test_info(recognizer: WhisperRecognizer) -> None:
    info = recognizer.info
    assert info.name == "whisper-tiny.en"
    assert info.language_codes == ("en",)
    assert not info.multilingual
    assert info.sample_rate_hz == RATE_HZ
    assert info.execution_provider in ("CPUExecutionProvider", "CUDAExecutionProvider")


def test_espeak_sentences_have_low_wer(recognizer: WhisperRecognizer) -> None:
    refs = sentences()
    hyps = [transcribe(recognizer, espeak(text)).text for text in refs]
    assert wer(refs, hyps) <= ESPEAK_WER_BOUND, list(zip(refs, hyps, strict=True))


def test_piper_sentences_have_low_wer(recognizer: WhisperRecognizer) -> None:
    refs = sentences()
    hyps = [transcribe(recognizer, piper(text)).text for text in refs]
    assert wer(refs, hyps) <= PIPER_WER_BOUND, list(zip(refs, hyps, strict=True))


def test_result_shape_and_determinism(recognizer: WhisperRecognizer) -> None:
    text = sentences()[1]
    audio = join(silence(0.5), piper(text), silence(0.5))
    first = transcribe(recognizer, audio)
    assert first == transcribe(recognizer, audio)
    assert first.language == "en"
    assert first.duration_s == len(audio) / RATE_HZ
    assert first.text == " ".join(s.text for s in first.segments)
    for segment in first.segments:
        assert 0.0 <= segment.start_s < segment.end_s <= first.duration_s + 0.02
        assert segment.avg_logprob <= 0.0
        assert 0.0 <= segment.no_speech_prob <= 1.0
        assert segment.words == ()


def test_silence_and_noise_give_empty_text(recognizer: WhisperRecognizer) -> None:
    for audio in (silence(3.0), noise(3.0, rms=1e-5), noise(3.0, rms=0.05),
                  noise(5.0, rms=0.01, seed=4), np.zeros(0, dtype=np.float32)):
        result = transcribe(recognizer, audio)
        assert result.text == "" and result.segments == (), result
        assert result.duration_s == len(audio) / RATE_HZ


def test_sixty_seconds_gives_every_sentence_in_order(recognizer: WhisperRecognizer) -> None:
    refs = sentences()
    parts = []
    for i, text in enumerate(refs):
        parts += [piper(text), silence(3.0 + 0.5 * (i % 3))]
    audio = join(*parts)
    assert 55.0 <= len(audio) / RATE_HZ <= 65.0
    result = transcribe(recognizer, audio)
    assert wer([" ".join(refs)], [result.text]) <= PIPER_WER_BOUND, result.text
    starts = [s.start_s for s in result.segments]
    assert starts == sorted(starts)
    ends = [s.end_s for s in result.segments]
    assert all(a <= b for a, b in zip(ends[:-1], starts[1:], strict=True))
    assert all(s.start_s < s.end_s for s in result.segments)
    assert ends[-1] <= result.duration_s + 0.02
    assert starts[-1] > 30.0  # the second window was decoded, not dropped


def test_word_timestamps_are_ordered_and_inside_the_audio(
        recognizer: WhisperRecognizer) -> None:
    text = sentences()[1]
    audio = join(silence(1.0), piper(text), silence(0.5))
    result = transcribe(recognizer, audio, word_timestamps=True)
    words = [w for s in result.segments for w in s.words]
    assert [w.word for w in words] == text.split(), words
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert all(w.start_s <= w.end_s for w in words)
    assert all(a.end_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(words))
    assert 0.7 <= words[0].start_s <= 1.4  # speech starts at 1.0 s
    assert words[-1].end_s <= result.duration_s
    assert all(0.0 < w.probability <= 1.0 for w in words)
    for segment in result.segments:
        assert segment.start_s == segment.words[0].start_s
        assert segment.end_s == segment.words[-1].end_s


def test_word_timestamps_in_long_audio(recognizer: WhisperRecognizer) -> None:
    refs = sentences()[:6]
    parts = [silence(4.0)]
    for text in refs:
        parts += [piper(text), silence(3.0)]
    audio = join(*parts)
    result = transcribe(recognizer, audio, word_timestamps=True)
    words = [w for s in result.segments for w in s.words]
    assert wer([" ".join(refs)], [" ".join(w.word for w in words)]) <= PIPER_WER_BOUND
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)
    assert 3.7 <= words[0].start_s <= 4.4
    assert words[-1].end_s <= result.duration_s


def test_without_timestamps_gives_the_same_words(recognizer: WhisperRecognizer) -> None:
    text = sentences()[4]
    audio = piper(text)
    plain = transcribe(recognizer, audio, without_timestamps=True)
    assert len(plain.segments) == 1
    assert plain.segments[0].start_s == 0.0
    assert plain.segments[0].end_s == pytest.approx(len(audio) // 160 / 100)
    assert wer([text], [plain.text]) <= PIPER_WER_BOUND


def test_concurrent_calls_match_sequential_ones(recognizer: WhisperRecognizer) -> None:
    clips = [piper(text) for text in sentences()[5:9]]
    sequential = [transcribe(recognizer, clip, word_timestamps=True) for clip in clips]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(
            lambda clip: transcribe(recognizer, clip, word_timestamps=True), clips))
    assert parallel == sequential


def test_language_is_checked(recognizer: WhisperRecognizer) -> None:
    audio = piper("Hello there.")
    assert transcribe(recognizer, audio, language="en").language == "en"
    assert transcribe(recognizer, audio, language="en-US").language == "en"
    with pytest.raises(InvalidArgument, match="only en"):
        transcribe(recognizer, audio, language="fr")


@pytest.mark.parametrize("audio", [
    np.zeros(16000, dtype=np.float64),
    np.zeros(16000, dtype=np.int16),
    np.zeros((2, 16000), dtype=np.float32),
    np.array([0.0, np.nan, 0.1], dtype=np.float32),
    np.array([0.0, np.inf, 0.1], dtype=np.float32),
    [0.0, 0.1],
])
def test_bad_audio_is_rejected(recognizer: WhisperRecognizer, audio: object) -> None:
    with pytest.raises(InvalidAudio):
        recognizer.transcribe(audio, TranscribeOptions())  # type: ignore[arg-type]


def test_short_audio_gets_a_short_encoder_window() -> None:
    # 3 s of audio runs the encoder on 3 s plus the margin, not on 30 s
    assert window_frames(300, 3000) == 300 + PAD_MARGIN_FRAMES + PAD_MARGIN_FRAMES % 2
    assert window_frames(300, 3000) <= 3000 // 6
    assert window_frames(301, 3000) % 2 == 0
    assert window_frames(2999, 3000) == 3000
    assert window_frames(3000, 3000) == 3000
