"""Whisper engine options and results: validation at construction, joined transcript text."""

import math

import pytest

from voxserve.server.asr.types import Segment, TranscribeOptions, Transcript, Word, confidence
from voxserve.server.errors import InvalidArgument


def test_defaults_are_whispers() -> None:
    options = TranscribeOptions()
    assert options.language is None
    assert (options.no_speech_threshold, options.log_prob_threshold) == (0.6, -1.0)
    assert options.compression_ratio_threshold == 2.4
    assert options.max_initial_timestamp_s == 1.0
    assert options.temperature_fallback


@pytest.mark.parametrize("bad", [
    {"language": " "},
    {"max_initial_timestamp_s": -1.0},
    {"no_speech_threshold": 1.5},
    {"log_prob_threshold": float("nan")},
    {"log_prob_threshold": 0.5},
    {"compression_ratio_threshold": 0.0},
    {"compression_ratio_threshold": float("inf")},
])
def test_bad_options_are_invalid_arguments(bad: dict) -> None:
    with pytest.raises(InvalidArgument):
        TranscribeOptions(**bad)


def test_transcript_text_joins_segments() -> None:
    word = Word("Hi", 0.1, 0.3, 0.9)
    segments = (
        Segment(0.0, 1.0, "Hello there.", -0.2, 0.01, (word,)),
        Segment(1.0, 2.0, "", -0.2, 0.01),
        Segment(2.0, 3.0, " General Kenobi. ", -0.3, 0.02),
    )
    assert Transcript(segments, "en", 3.0).text == "Hello there. General Kenobi."
    assert Transcript((), "en", 0.0).text == ""


def test_one_confidence_formula_for_segments_and_transcripts() -> None:
    said = Segment(0.0, 1.0, " Hello.", avg_logprob=math.log(0.8), no_speech_prob=0.1)
    also = Segment(1.0, 2.0, " There.", avg_logprob=math.log(0.2), no_speech_prob=0.1)
    blank = Segment(2.0, 3.0, " ", avg_logprob=math.log(0.01), no_speech_prob=0.9)
    assert said.confidence == pytest.approx(0.8)
    # the geometric mean of the segments holding text: sqrt(0.8 * 0.2) = 0.4
    assert Transcript((said, also, blank), "en", 3.0).confidence == pytest.approx(0.4)
    assert Transcript((blank,), "en", 3.0).confidence == 0.0
    assert confidence([0.5]) == 1.0  # a positive log-probability (rounding) is clipped
