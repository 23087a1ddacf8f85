"""Endpointer: utterances found in espeak-ng speech with known silences between them."""

from __future__ import annotations

import numpy as np
import pytest

from tests.speech import espeak
from voxserve.server.errors import InvalidArgument
from voxserve.server.streaming.endpointer import (
    Endpointer,
    EndpointingOptions,
    Event,
    SpeechEnded,
    SpeechStarted,
)
from voxserve.server.streaming.vad import SileroModel, SileroVad, WebRtcVad

RATE = 16000
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back tomorrow morning.",
    "Seven green apples fell from the tall tree.",
)


@pytest.fixture(scope="module")
def sentences() -> list[np.ndarray]:
    """Each sentence spoken at 16 kHz, espeak-ng's leading and trailing silence cut off."""
    spoken = []
    for text in SENTENCES:
        samples = espeak(text)
        loud = np.flatnonzero(np.abs(samples) > 0.02)
        spoken.append(samples[loud[0] : loud[-1] + 1].copy())
    return spoken


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(RATE * seconds), np.float32)


def _run(audio: np.ndarray, options: EndpointingOptions | None = None, chunk: int | None = None,
         vad: WebRtcVad | SileroVad | None = None) -> list[Event]:
    options = options or EndpointingOptions()
    endpointer = Endpointer(options, vad or WebRtcVad(options.vad_aggressiveness))
    events: list[Event] = []
    step = chunk or len(audio)
    for i in range(0, len(audio), step):
        events += endpointer.push(audio[i : i + step])
    return events + endpointer.finish()


def _ended(events: list[Event]) -> list[SpeechEnded]:
    return [event for event in events if isinstance(event, SpeechEnded)]


def _kinds(events: list[Event]) -> list[tuple[str, int]]:
    return [(type(event).__name__, event.utterance_index) for event in events]


def test_two_sentences_with_a_long_pause_are_two_utterances(sentences: list[np.ndarray]) -> None:
    first, second = sentences[0], sentences[1]
    audio = np.concatenate([_silence(0.5), first, _silence(1.0), second, _silence(1.0)])
    events = _run(audio)
    assert _kinds(events) == [("SpeechStarted", 0), ("SpeechEnded", 0), ("SpeechStarted", 1),
                              ("SpeechEnded", 1)]
    starts = [event for event in events if isinstance(event, SpeechStarted)]
    ended = _ended(events)
    assert [event.cause for event in ended] == ["silence", "silence"]
    speech_spans = [(0.5, 0.5 + len(first) / RATE),
                    (1.5 + len(first) / RATE, 1.5 + (len(first) + len(second)) / RATE)]
    for started, end, (speech_start, speech_end) in zip(starts, ended, speech_spans, strict=True):
        # The events give the speech itself: the utterance's audio adds 300 ms either side.
        assert started.offset_s == pytest.approx(end.start_s + 0.3, abs=1e-9)
        assert started.offset_s == pytest.approx(speech_start, abs=0.06)
        assert end.offset_s == pytest.approx(end.end_s - 0.3, abs=1e-9)
        assert speech_end - 0.06 <= end.offset_s <= speech_end + 0.15
        # 300 ms of padding either side of the speech the detector heard: onsets within two
        # 30 ms frames; webrtcvad holds speech ~100 ms past its end ("hangover").
        assert end.start_s == pytest.approx(speech_start - 0.3, abs=0.06)
        assert speech_end + 0.3 - 0.06 <= end.end_s <= speech_end + 0.3 + 0.15
        # The utterance audio is exactly that span of the stream.
        begin, stop = round(end.start_s * RATE), round(end.end_s * RATE)
        assert np.array_equal(end.audio, audio[begin:stop])


def test_a_pause_shorter_than_min_silence_keeps_one_utterance(
    sentences: list[np.ndarray],
) -> None:
    audio = np.concatenate([_silence(0.5), sentences[0], _silence(0.3), sentences[1],
                            _silence(1.0)])
    events = _run(audio)
    assert _kinds(events) == [("SpeechStarted", 0), ("SpeechEnded", 0)]
    only = _ended(events)[0]
    assert only.start_s == pytest.approx(0.2, abs=0.06)
    speech_end = len(audio) / RATE - 1.0
    assert speech_end + 0.3 - 0.06 <= only.end_s <= speech_end + 0.3 + 0.15
    # The same pause is a boundary once min_silence_ms is shorter than it (and the ~100 ms
    # webrtcvad holds on after speech).
    shorter = _ended(_run(audio, EndpointingOptions(min_silence_ms=150)))
    gap_start = 0.5 + len(sentences[0]) / RATE
    assert any(gap_start <= event.end_s <= gap_start + 0.3 for event in shorter)


def test_silence_and_quiet_noise_give_no_events() -> None:
    assert _run(_silence(5.0)) == []
    noise = (np.random.default_rng(3).standard_normal(RATE * 5) * 0.003).astype(np.float32)
    assert _run(noise) == []


def test_finish_flushes_the_open_utterance(sentences: list[np.ndarray]) -> None:
    audio = np.concatenate([_silence(0.4), sentences[2]])
    events = _run(audio, chunk=800)
    assert _kinds(events) == [("SpeechStarted", 0), ("SpeechEnded", 0)]
    ended = _ended(events)[0]
    assert ended.cause == "finish"
    assert ended.end_s <= len(audio) / RATE
    assert ended.end_s == pytest.approx(len(audio) / RATE, abs=0.04)
    assert np.array_equal(ended.audio, audio[round(ended.start_s * RATE):])


def test_speech_at_the_very_start_clamps_the_padding(sentences: list[np.ndarray]) -> None:
    events = _run(np.concatenate([sentences[0], _silence(1.0)]))
    assert isinstance(events[0], SpeechStarted) and 0.0 <= events[0].offset_s <= 0.3
    assert _ended(events)[0].start_s == 0.0


def test_without_padding_utterances_start_on_frame_boundaries(
    sentences: list[np.ndarray],
) -> None:
    audio = np.concatenate([_silence(0.5), sentences[1], _silence(1.0)])
    ended = _ended(_run(audio, EndpointingOptions(speech_pad_ms=0)))[0]
    assert round(ended.start_s * RATE) % 480 == 0
    assert round(ended.end_s * RATE) % 480 == 0
    assert ended.start_s == pytest.approx(0.5, abs=0.06)


def test_leading_padding_never_reaches_into_the_previous_utterance(
    sentences: list[np.ndarray],
) -> None:
    # 500 ms of padding on both sides of a 800 ms pause would overlap by 200 ms.
    audio = np.concatenate([_silence(0.5), sentences[0], _silence(0.8), sentences[1],
                            _silence(1.0)])
    options = EndpointingOptions(speech_pad_ms=500)
    ended = _ended(_run(audio, options))
    assert len(ended) == 2
    assert ended[1].start_s >= ended[0].end_s


@pytest.mark.parametrize("chunk_ms", [20, 30, 50, 100])
def test_chunk_size_does_not_change_the_events(
    sentences: list[np.ndarray], chunk_ms: int
) -> None:
    audio = np.concatenate([_silence(0.3), sentences[0], _silence(0.8), sentences[1],
                            _silence(0.2), sentences[2], _silence(0.7)])
    whole = _run(audio)
    split = _run(audio, chunk=RATE * chunk_ms // 1000 + 7)  # +7: never frame-aligned
    assert _kinds(split) == _kinds(whole)
    assert len(_ended(whole)) == 2
    for a, b in zip(whole, split, strict=True):
        if isinstance(a, SpeechEnded):
            assert isinstance(b, SpeechEnded)
            assert (a.start_s, a.end_s, a.cause) == (b.start_s, b.end_s, b.cause)
            assert np.array_equal(a.audio, b.audio)
        else:
            assert a == b


def test_max_utterance_cuts_at_the_quietest_point_not_mid_word(
    sentences: list[np.ndarray],
) -> None:
    # Continuous speech with one 300 ms silence at 4.3-4.6 s; the cut at 5 s looks back 1 s.
    speech = np.concatenate([*sentences, *sentences])
    head, tail = speech[: round(4.3 * RATE)], speech[round(4.3 * RATE) :]
    audio = np.concatenate([head, _silence(0.3), tail])
    # Dither: espeak-ng's own pauses are digital silence too; only the gap may be all zeros.
    audio += np.random.default_rng(1).standard_normal(len(audio)).astype(np.float32) * 1e-4
    audio[round(4.3 * RATE) : round(4.6 * RATE)] = 0.0
    events = _run(audio, EndpointingOptions(max_utterance_ms=5000), chunk=1600)
    ended = _ended(events)
    first = ended[0]
    assert first.cause == "max_utterance"
    # The latest of the silent frames: frame 152 (30 ms frames) ends at 4.59 s.
    assert first.end_s == 4.59
    assert events[events.index(first) + 1] == SpeechStarted(1, 4.59)


def test_long_speech_is_cut_into_bounded_contiguous_utterances(
    sentences: list[np.ndarray],
) -> None:
    gap = _silence(0.2)
    audio = np.concatenate([_silence(0.5), *(part for s in sentences * 2 for part in (s, gap))])
    options = EndpointingOptions(max_utterance_ms=4000)
    endpointer = Endpointer(options, WebRtcVad(2))
    events: list[Event] = []
    for i in range(0, len(audio), 1600):
        events += endpointer.push(audio[i : i + 1600])
        assert len(endpointer.open_audio()) <= 4000 * RATE // 1000 + 1600
        assert endpointer.buffered_s <= 4.0 + 0.1
    events += endpointer.finish()
    ended = _ended(events)
    assert len(ended) >= 4
    assert all(len(event.audio) <= 4 * RATE for event in ended)
    assert all(event.cause == "max_utterance" for event in ended[:-1])
    for before, after in zip(ended, ended[1:], strict=False):
        assert after.start_s == before.end_s  # a forced cut loses no audio
    assert [event.utterance_index for event in ended] == list(range(len(ended)))


def test_memory_between_utterances_is_the_pre_roll() -> None:
    endpointer = Endpointer(EndpointingOptions(), WebRtcVad(2))
    for _ in range(100):
        endpointer.push(_silence(0.1))
    assert endpointer.received_s == pytest.approx(10.0)
    # 300 ms padding + the 4-frame (120 ms) start window + a partial 30 ms frame.
    assert endpointer.buffered_s <= 0.3 + 0.12 + 0.03
    assert endpointer.open_utterance is None


def test_open_utterance_reports_the_span_heard_so_far(sentences: list[np.ndarray]) -> None:
    endpointer = Endpointer(EndpointingOptions(), WebRtcVad(2))
    events = endpointer.push(np.concatenate([_silence(0.5), sentences[0][: RATE]]))
    assert _kinds(events) == [("SpeechStarted", 0)]
    heard = endpointer.open_utterance
    assert heard is not None
    assert heard.utterance_index == 0
    assert heard.start_s == pytest.approx(events[0].offset_s - 0.3, abs=1e-9)
    assert heard.end_s == 1.5
    assert len(endpointer.open_audio()) == round((heard.end_s - heard.start_s) * RATE)


def test_silero_finds_the_same_two_utterances(sentences: list[np.ndarray]) -> None:
    audio = np.concatenate([_silence(0.5), sentences[0], _silence(1.0), sentences[1],
                            _silence(1.0)])
    events = _run(audio, EndpointingOptions(detector="silero"), vad=SileroVad(SileroModel.load()))
    ended = _ended(events)
    assert len(ended) == 2
    # Silero's probability rises ~100-150 ms into speech and falls as late after it.
    assert ended[0].start_s == pytest.approx(0.2, abs=0.16)
    assert ended[1].end_s == pytest.approx(len(audio) / RATE - 0.7, abs=0.16)


def test_push_after_finish_is_a_programming_error() -> None:
    endpointer = Endpointer(EndpointingOptions(), WebRtcVad(2))
    endpointer.finish()
    with pytest.raises(RuntimeError):
        endpointer.push(_silence(0.1))


def test_defaults_are_the_documented_ones() -> None:
    options = EndpointingOptions()
    assert (options.detector, options.vad_aggressiveness, options.min_silence_ms,
            options.speech_pad_ms, options.max_utterance_ms, options.min_speech_ms) == (
        "webrtc", 2, 500, 300, 20000, 120)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("detector", "energy", "endpointing.detector must be webrtc or silero, not energy"),
        ("vad_aggressiveness", 4, "endpointing.vad_aggressiveness must be 0 to 3, not 4"),
        ("min_silence_ms", 99, "endpointing.min_silence_ms must be 100 to 10000, not 99"),
        ("min_silence_ms", 10001, "endpointing.min_silence_ms must be 100 to 10000"),
        ("speech_pad_ms", -1, "endpointing.speech_pad_ms must be 0 to 1000, not -1"),
        ("max_utterance_ms", 30001, "endpointing.max_utterance_ms must be 1000 to 30000"),
        ("min_speech_ms", 29, "endpointing.min_speech_ms must be 30 to 2000, not 29"),
    ],
)
def test_out_of_range_options_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        EndpointingOptions(**{field: value})  # type: ignore[arg-type]

