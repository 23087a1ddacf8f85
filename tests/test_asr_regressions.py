"""Whisper decoding regressions: a sentence dropped by the loop cut, a repeated short segment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bench.recordings import filled
from tests.speech import DATA, join, piper, silence
from tests.test_asr_decoding import EOT, N_VOCAB, SOT, TS, toy_config
from tests.wer import normalise, wer
from voxserve.server.asr.decoding import GreedyDecoder, LogitRules, WindowRequest
from voxserve.server.asr.types import TranscribeOptions, Transcript
from voxserve.server.asr.whisper import WhisperRecognizer
from voxserve.server.runtime import RuntimeOptions

# The toy vocabulary of tests/test_asr_decoding.py: text 0..19, specials, 1501 timestamps.
FULL_STOP = 9
# "Hello from voxserve. This is a test." by the Piper joe voice with its default noise (one
# draw, kept as 16-bit FLAC): tiny.en decoded it as three segments, the last two both
# "This is a test." (0.0-1.66, 1.66-2.0, 2.0-2.5 s).
REPEATED_SEGMENT_AUDIO = DATA / "piper_repeated_segment.flac"


def decode(tokens: list[int], without_timestamps: bool) -> tuple[GreedyDecoder, int]:
    """Greedy decoding of logits that favour `tokens` in turn; also how many steps it took."""
    request = WindowRequest(sot_sequence=(SOT,), content_frames=3000,
                            without_timestamps=without_timestamps, max_initial_timestamp_s=1.0)
    decoder = GreedyDecoder(LogitRules(toy_config(), request), EOT, 224, temperature=0.0,
                            seed=0, sentence_ends=frozenset({FULL_STOP}))
    for step, token in enumerate(tokens, start=1):
        row = np.zeros(N_VOCAB, dtype=np.float32)
        row[token] = 10.0
        if decoder.push(row) is None:
            return decoder, step
    return decoder, len(tokens)


def test_loop_that_starts_at_a_full_stop_keeps_the_sentence_it_repeats() -> None:
    # "B. A. A. A": the repetition begins at B's full stop, so the repeating block is ". A";
    # one copy of "A." is kept, not cut back to "B."
    before, sentence = [1, 2, FULL_STOP], [11, 12, 13, 14, FULL_STOP]
    decoder, steps = decode([*before, *sentence * 3, 11, 12, 13, 14, EOT], True)
    assert decoder.looped
    assert steps == 17  # stopped by the loop guard on the third "A" (block of 5, 3 copies)
    assert decoder.tokens == [*before, *sentence]


def test_segment_repeating_the_one_before_ends_the_window() -> None:
    # <0.00> B. <1.00><1.00> A. <2.00><2.00> A. <2.50>: "A." (5 tokens) said twice is too
    # short for the block rule; the repeated segment goes, the pair before it stays
    first, second = [TS, 1, 2, FULL_STOP, TS + 50], [TS + 50, 11, 12, 13, 14, FULL_STOP, TS + 100]
    repeat = [TS + 100, 11, 12, 13, 14, FULL_STOP, TS + 125]
    decoder, steps = decode([*first, *second, *repeat, 16, 17, TS + 140, EOT], False)
    assert decoder.looped
    assert steps == len(first + second + repeat)
    assert decoder.tokens == [*first, *second, TS + 100]
    # the same text after a different segment is not a loop
    other = [TS + 100, 16, 17, TS + 110]
    decoder, _ = decode([*first, *second, *other, TS + 110, 11, 12, 13, 14, FULL_STOP,
                         TS + 125, EOT], False)
    assert not decoder.looped
    assert decoder.tokens == [*first, *second, *other, TS + 110, 11, 12, 13, 14, FULL_STOP,
                              TS + 125]


@pytest.fixture(scope="module")
def recognizer(models_dir: Path) -> WhisperRecognizer:
    folder = models_dir / "whisper-tiny.en"
    manifest = json.loads((folder / "manifest.json").read_text())
    return WhisperRecognizer.load(folder, manifest, RuntimeOptions())


def transcribe(recognizer: WhisperRecognizer, audio: np.ndarray,
               word_timestamps: bool = False) -> Transcript:
    return recognizer.transcribe(audio, TranscribeOptions(word_timestamps=word_timestamps))


@pytest.mark.parametrize("word_timestamps", [False, True])
def test_sentence_cut_at_the_end_of_the_audio_is_kept(recognizer: WhisperRecognizer,
                                                      word_timestamps: bool) -> None:
    # espeak's "The weather ... breeze. I would like to book a table for two at", exactly 5 s:
    # the decoder looped on the unfinished sentence and the loop cut dropped all of it
    recording = filled(5.0, first=2)
    result = transcribe(recognizer, recording.audio, word_timestamps=word_timestamps)
    assert wer([recording.text], [result.text]) == 0.0, result.text


@pytest.mark.parametrize("gaps_s", [(0.0, 0.0), (0.0, 0.2), (0.3, 0.2)])
def test_second_sentence_of_a_short_utterance_is_kept(recognizer: WhisperRecognizer,
                                                      gaps_s: tuple[float, float]) -> None:
    # Piper (noise off) "Hello from voxserve." and "This is a test." with these pauses after
    # each: the decoder repeated the second sentence and the loop cut kept only the first
    audio = join(piper("Hello from voxserve."), silence(gaps_s[0]), piper("This is a test."),
                 silence(gaps_s[1]))
    for word_timestamps in (False, True):
        text = normalise(transcribe(recognizer, audio, word_timestamps=word_timestamps).text)
        assert text.endswith(" this is a test") and text.count("this is a test") == 1, text


def test_repeated_short_segment_is_dropped(recognizer: WhisperRecognizer) -> None:
    audio, rate_hz = soundfile.read(REPEATED_SEGMENT_AUDIO, dtype="float32")
    assert rate_hz == 16000
    result = transcribe(recognizer, audio)
    texts = [normalise(s.text) for s in result.segments]
    assert texts[-1] == "this is a test" and texts.count("this is a test") == 1, result.segments
    assert result.segments[0].start_s == 0.0
    segments = result.segments
    assert all(a.end_s <= b.start_s for a, b in zip(segments[:-1], segments[1:], strict=True))
