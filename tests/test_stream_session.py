"""StreamSession: raw chunks in, speech events and decode requests out, results in stream time.

The recognizer here is a scripted stand-in behind the session's Recognizer protocol; the real
Whisper path is exercised by the servicer's integration tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.speech import espeak
from voxserve.server.asr.types import Segment, TranscribeOptions, Transcript, Word
from voxserve.server.audio.codecs import float_to_mulaw, float_to_pcm16
from voxserve.server.audio.resample import resample
from voxserve.server.errors import InvalidArgument
from voxserve.server.streaming.eagerness import Eagerness
from voxserve.server.streaming.endpointer import EndpointingOptions, SpeechEnded, SpeechStarted
from voxserve.server.streaming.session import (
    Action,
    CandidateRequest,
    EndOfSingleUtterance,
    FinalRequest,
    InterimRequest,
    StreamOptions,
    StreamSession,
)
from voxserve.server.streaming.vad import SileroModel

RATE = 16000
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back tomorrow morning.",
)


class ScriptedRecognizer:
    """Answers each call with the next scripted text, one word per 0.25 s of audio."""

    def __init__(self, texts: list[str] | None = None) -> None:
        self.texts = list(texts or [])
        self.calls: list[tuple[int, TranscribeOptions]] = []

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions,
                   stop: object = None) -> Transcript:
        self.calls.append((len(audio), options))
        text = self.texts.pop(0) if self.texts else "hello world"
        words = tuple(Word(f" {w}", 0.25 * i, 0.25 * i + 0.2, 0.9)
                      for i, w in enumerate(text.split()))
        segments = (Segment(0.0, len(audio) / RATE, f" {text}", -0.2, 0.01, words),)
        return Transcript(segments, "en", len(audio) / RATE)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """0.5 s silence, sentence, 1 s silence, sentence, 1 s silence: two utterances, 16 kHz."""
    parts = [np.zeros(RATE // 2, np.float32)]
    for text in SENTENCES:
        samples = espeak(text)
        loud = np.flatnonzero(np.abs(samples) > 0.02)
        parts += [samples[loud[0] : loud[-1] + 1], np.zeros(RATE, np.float32)]
    return np.concatenate(parts)


def _split(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, i, k = [], 0, 0
    while i < len(data):
        chunks.append(data[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    return chunks


def _run(session: StreamSession, chunks: list[bytes], *, candidates: bool = False
         ) -> list[Action]:
    """The actions of a whole stream; candidate requests only when asked for (nobody decodes
    them here, so they leave the endpoints where min_silence_ms puts them)."""
    actions: list[Action] = []
    for chunk in chunks:
        actions += session.push(chunk)
    actions += session.finish()
    return [a for a in actions if candidates or not isinstance(a, CandidateRequest)]


def _transcript(text: str, seconds: float) -> Transcript:
    """What the scripted recognizer answers with `text` for `seconds` of audio."""
    audio = np.zeros(round(seconds * RATE), np.float32)
    return ScriptedRecognizer([text]).transcribe(audio, TranscribeOptions())


def _summary(actions: list[Action]) -> list[tuple[str, int, float]]:
    out = []
    for action in actions:
        when = action.offset_s if isinstance(action, SpeechStarted) else action.end_s  # type: ignore[union-attr]
        out.append((type(action).__name__, action.utterance_index, when))
    return out


def test_two_utterances_give_events_and_final_requests(speech: np.ndarray) -> None:
    session = StreamSession(ScriptedRecognizer(), StreamOptions())
    actions = _run(session, _split(float_to_pcm16(speech), [3200]))
    assert [(kind, index) for kind, index, _ in _summary(actions)] == [
        ("SpeechStarted", 0), ("SpeechEnded", 0), ("FinalRequest", 0),
        ("SpeechStarted", 1), ("SpeechEnded", 1), ("FinalRequest", 1),
    ]
    for ended, final in ((actions[1], actions[2]), (actions[4], actions[5])):
        assert isinstance(ended, SpeechEnded) and isinstance(final, FinalRequest)
        # The final decodes the utterance up to 60 ms (two frames) after its speech (what a
        # candidate decodes); the event's audio keeps the whole 300 ms padding.
        assert (final.start_s, final.speech_end_s) == (ended.start_s, ended.speech_end_s)
        assert final.end_s == pytest.approx(ended.speech_end_s + 0.06)
        assert ended.end_s == pytest.approx(ended.speech_end_s + 0.3)
        assert np.array_equal(final.audio, ended.audio[: len(final.audio)])
        assert len(final.audio) == round((final.end_s - final.start_s) * RATE)
        assert not final.audio.flags.writeable
    assert session.done
    assert session.received_s == len(speech) / RATE


@pytest.mark.parametrize("sizes", [[640], [960, 1600], [3200], [641], [1, 999, 3]])
def test_chunk_sizes_and_odd_byte_splits_give_the_same_actions(
    speech: np.ndarray, sizes: list[int]
) -> None:
    data = float_to_pcm16(speech)  # 20 ms = 640 bytes, 100 ms = 3200 bytes
    whole = _run(StreamSession(ScriptedRecognizer(), StreamOptions()), [data])
    split = _run(StreamSession(ScriptedRecognizer(), StreamOptions()), _split(data, sizes))
    assert _summary(split) == _summary(whole)
    for a, b in zip(whole, split, strict=True):
        if isinstance(a, FinalRequest):
            assert isinstance(b, FinalRequest) and np.array_equal(a.audio, b.audio)


def test_48k_stereo_stream_finds_the_same_utterances(speech: np.ndarray) -> None:
    at_48k = resample(speech, RATE, 48000)
    stereo = np.stack([at_48k, at_48k * 0.5], axis=1).reshape(-1)
    options = StreamOptions(sample_rate_hz=48000, channels=2)
    data = float_to_pcm16(stereo)
    whole = _run(StreamSession(ScriptedRecognizer(), options), [data])
    # 30 ms chunks of 4-byte frames, shifted by an odd byte so every cut splits a frame.
    split = _run(StreamSession(ScriptedRecognizer(), options),
                 [data[:1001]] + _split(data[1001:], [5760]))
    assert _summary(split) == _summary(whole)
    reference = _run(StreamSession(ScriptedRecognizer(), StreamOptions()), [float_to_pcm16(speech)])
    assert [kind for kind, _, _ in _summary(whole)] == [kind for kind, _, _ in _summary(reference)]
    for (_, _, a), (_, _, b) in zip(_summary(whole), _summary(reference), strict=True):
        assert a == pytest.approx(b, abs=0.061)


def test_8k_mulaw_stream(speech: np.ndarray) -> None:
    data = float_to_mulaw(resample(speech, RATE, 8000))
    actions = _run(StreamSession(ScriptedRecognizer(), StreamOptions("mulaw", 8000)),
                   _split(data, [160]))
    finals = [a for a in actions if isinstance(a, FinalRequest)]
    assert [final.utterance_index for final in finals] == [0, 1]


def test_silence_gives_no_actions() -> None:
    session = StreamSession(ScriptedRecognizer(), StreamOptions(interim_results=True))
    assert _run(session, [bytes(3200)] * 50) == []


def test_half_close_flushes_the_open_utterance(speech: np.ndarray) -> None:
    cut = len(speech) // 3  # inside the first sentence
    session = StreamSession(ScriptedRecognizer(), StreamOptions())
    pushed = []
    for chunk in _split(float_to_pcm16(speech[:cut]), [1600]):
        pushed += session.push(chunk)
    assert [type(a) for a in pushed] == [SpeechStarted]
    flushed = session.finish()
    assert [type(a) for a in flushed] == [SpeechEnded, FinalRequest]
    final = flushed[1]
    assert isinstance(final, FinalRequest) and final.end_s == pytest.approx(cut / RATE, abs=0.031)
    assert flushed[0].cause == "finish"  # type: ignore[union-attr]
    with pytest.raises(RuntimeError):
        session.push(b"\x00\x00")


def test_single_utterance_stops_after_the_first_final(speech: np.ndarray) -> None:
    session = StreamSession(ScriptedRecognizer(), StreamOptions(single_utterance=True))
    actions = []
    for chunk in _split(float_to_pcm16(speech), [3200]):
        actions += session.push(chunk)
    assert [type(a) for a in actions] == [SpeechStarted, CandidateRequest, SpeechEnded,
                                          FinalRequest, EndOfSingleUtterance]
    actions.pop(1)
    end = actions[3]
    assert isinstance(end, EndOfSingleUtterance)
    # at the end of the speech, as SPEECH_ENDED
    assert (end.utterance_index, end.offset_s) == (0, actions[1].offset_s)  # type: ignore[union-attr]
    assert session.done
    assert session.push(bytes(3200)) == []
    assert session.finish() == []


def test_interim_requests_follow_the_open_utterance(speech: np.ndarray) -> None:
    session = StreamSession(ScriptedRecognizer(),
                            StreamOptions(interim_results=True, interim_interval_ms=500))
    interims: list[InterimRequest] = []
    ended: list[SpeechEnded] = []
    started: dict[int, float] = {}
    previous_end: dict[int, float] = {}
    for chunk in _split(float_to_pcm16(speech), [1600]):  # 50 ms
        for action in session.push(chunk):
            if isinstance(action, SpeechStarted):
                started[action.utterance_index] = action.offset_s
            if isinstance(action, InterimRequest):
                assert session.is_current(action)
                if interims:
                    assert not session.is_current(interims[-1])
                index = action.utterance_index
                if index not in previous_end:  # the first: 120 ms of speech, whole chunks
                    assert 0.12 <= round(action.end_s - started[index], 6) < 0.17
                else:  # the first held words, so one per interval after it
                    assert 0.5 <= action.end_s - previous_end[index] < 0.55
                previous_end[index] = action.end_s
                assert len(action.audio) == round((action.end_s - action.start_s) * RATE)
                session.result(action, _transcript("hello world", 0.5))
                interims.append(action)
            if isinstance(action, SpeechEnded):
                assert interims and not session.is_current(interims[-1])
                ended.append(action)
    assert {interim.utterance_index for interim in interims} == {0, 1}
    for utterance in ended:
        # One interim 0.12 s into the speech, then one per 0.5 s of audio while the speech went
        # on: up to its end (less the 0.3 s trailing padding) plus the 0.06 s of silence (2
        # frames) after which the candidate final decodes the rest. The push that takes the
        # candidate sends no interim, so the last may be missing.
        count = sum(interim.utterance_index == utterance.utterance_index for interim in interims)
        speech_s = utterance.end_s - 0.3 + 0.06 - started[utterance.utterance_index]
        expected = 1 + math.floor((speech_s - 0.12) / 0.5)
        assert expected - 1 <= count <= expected


@pytest.mark.parametrize("interval_ms", [500, 2000])
@pytest.mark.parametrize("chunk_ms", [10, 100])
def test_first_interim_is_requested_120_ms_into_the_speech(
    speech: np.ndarray, interval_ms: int, chunk_ms: int
) -> None:
    """The first interim of each utterance is requested once FIRST_INTERIM_MS (120 ms) of its
    speech has arrived, whatever the interval and however the audio is split (up to one
    message later); while none has held words, again after each 100 ms more audio, for at most
    one interval; the first that holds words starts the interval. The stream's clock is its
    audio: offsets here are where in the stream each request was issued."""
    session = StreamSession(ScriptedRecognizer(), StreamOptions(
        interim_results=True, interim_interval_ms=interval_ms))
    started: dict[int, float] = {}
    requested: dict[int, list[float]] = {0: [], 1: []}
    for chunk in _split(float_to_pcm16(speech), [RATE * 2 * chunk_ms // 1000]):
        for action in session.push(chunk):
            if isinstance(action, SpeechStarted):
                started[action.utterance_index] = action.offset_s
            if isinstance(action, InterimRequest):
                ends = requested[action.utterance_index]
                assert action.end_s == session.received_s  # issued as the audio arrived
                ends.append(action.end_s)
                # Utterance 0: the first three decode before the first word; utterance 1's
                # first holds words.
                words = len(ends) > 3 or action.utterance_index == 1
                session.result(action, _transcript("hello world" if words else "", 0.5))
    chunk_s = chunk_ms / 1000
    for index, ends in requested.items():
        assert 0.12 <= round(ends[0] - started[index], 6) < 0.12 + chunk_s
    first, *retries, steady = requested[0][:5]
    gaps = [round(b - a, 6) for a, b in zip([first, *retries], retries, strict=False)]
    assert len(gaps) == 3 and all(0.1 <= gap < 0.1 + chunk_s for gap in gaps)
    interval_s = interval_ms / 1000
    assert interval_s <= round(steady - retries[-1], 6) < interval_s + chunk_s
    assert interval_s <= round(requested[1][1] - requested[1][0], 6) < interval_s + chunk_s


def test_first_interim_retries_stop_after_one_interval(speech: np.ndarray) -> None:
    """Audio whose interims never hold words is re-decoded every 100 ms for one interval only,
    then once per interval: noise costs little."""
    session = StreamSession(ScriptedRecognizer(), StreamOptions(
        interim_results=True, interim_interval_ms=500))
    ends: list[float] = []
    for chunk in _split(float_to_pcm16(speech), [160]):  # 10 ms
        for action in session.push(chunk):
            if isinstance(action, InterimRequest) and action.utterance_index == 0:
                ends.append(action.end_s)
                session.result(action, _transcript("", 0.0))
    gaps = [round(b - a, 3) for a, b in zip(ends, ends[1:], strict=False)]
    # Retries while the next one is due inside the first interval: at +0.1 .. +0.4 s.
    assert gaps[:4] == [0.1] * 4
    assert all(gap == 0.5 for gap in gaps[4:]) and len(gaps) > 4


def test_no_interims_unless_asked(speech: np.ndarray) -> None:
    actions = _run(StreamSession(ScriptedRecognizer(), StreamOptions()),
                   _split(float_to_pcm16(speech), [1600]))
    assert not any(isinstance(action, InterimRequest) for action in actions)


def test_transcribe_uses_the_fast_path_for_interims() -> None:
    recognizer = ScriptedRecognizer()
    options = StreamOptions(transcribe=TranscribeOptions(language="en", word_timestamps=True))
    session = StreamSession(recognizer, options)
    audio = np.zeros(8000, np.float32)
    session.transcribe(InterimRequest(0, audio, 1.0, 1.5))
    session.transcribe(FinalRequest(0, audio, 1.0, 1.5, 1.2))
    (_, interim), (_, final) = recognizer.calls
    assert (interim.without_timestamps, interim.word_timestamps, interim.language) == (
        True, False, "en")
    assert not interim.temperature_fallback  # greedy only: a retry would delay the interim
    assert interim.cut_repeats  # cut before a repeated block, never re-decoded on 30 s
    assert final == options.transcribe
    assert final.temperature_fallback and not final.cut_repeats


def test_results_carry_stream_offsets_stability_and_confidence() -> None:
    texts = ["Hello there.", "Hello there, general", "hello their general Kenobi", ""]
    recognizer = ScriptedRecognizer(texts + ["Hello there, General Kenobi."])
    session = StreamSession(recognizer,
                            StreamOptions(transcribe=TranscribeOptions(word_timestamps=True)))
    audio = np.zeros(16000, np.float32)
    stabilities, shown = [], []
    for end_s in (3.5, 4.0, 4.5, 5.0):
        request = InterimRequest(2, audio, 3.0, end_s)
        result = session.result(request, session.transcribe(request))
        assert (result.is_final, result.utterance_index, result.start_s, result.end_s) == (
            False, 2, 3.0, end_s)
        assert result.words == ()
        stabilities.append(result.stability)
        shown.append((result.text, result.committed_text, result.tentative_text))
        assert result.confidence == (pytest.approx(math.exp(-0.2)) if result.text else 0.0)
    # "Hello there," is committed by the second interim (the first agreed, and "general"
    # follows); the third's "their" cannot revise it, so it shows the committed words and its
    # own tail after them.
    assert shown == [("Hello there.", "", "Hello there."),
                     ("Hello there, general", "Hello there,", "general"),
                     ("Hello there, general Kenobi", "Hello there,", "general Kenobi"),
                     ("", "", "")]  # an empty interim is never sent
    # The likelihood that the text stays: words the previous interim held in place count as
    # settled (1), newer words count with the interim's confidence, exp(-0.2); the first
    # interim has nothing to compare, so its stability is its confidence; an empty one 0.
    p = math.exp(-0.2)
    assert stabilities == pytest.approx([p, (2 + p) / 3, (3 + p) / 4, 0.0])
    final_request = FinalRequest(2, audio, 3.0, 5.0, 4.8)
    final = session.result(final_request, session.transcribe(final_request))
    assert (final.text, final.is_final, final.stability, final.language) == (
        "Hello there, General Kenobi.", True, 1.0, "en")
    assert final.confidence == pytest.approx(math.exp(-0.2))
    assert [(w.word, w.start_s, w.end_s) for w in final.words] == [
        (" Hello", 3.0, 3.2), (" there,", 3.25, 3.45), (" General", 3.5, 3.7),
        (" Kenobi.", 3.75, 3.95)]


def test_empty_transcript_has_zero_confidence() -> None:
    session = StreamSession(ScriptedRecognizer([""]), StreamOptions())
    request = FinalRequest(0, np.zeros(1600, np.float32), 0.0, 0.1, 0.1)
    result = session.result(request, session.transcribe(request))
    assert (result.text, result.confidence, result.words) == ("", 0.0, ())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"encoding": "wav"},
         "config.encoding must be LINEAR16, MULAW or ALAW for StreamingRecognize"),
        ({"encoding": "unspecified"}, "not UNSPECIFIED"),
        ({"sample_rate_hz": 4000}, "sample_rate_hz must be 8000 to 48000"),
        ({"sample_rate_hz": 0}, "sample_rate_hz must be 8000 to 48000"),
        ({"channels": 9}, "audio_channel_count must be 1 to 8"),
        ({"interim_interval_ms": 50}, "interim_interval_ms must be 100 to 5000, not 50"),
    ],
)
def test_bad_stream_config_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        StreamOptions(**kwargs)  # type: ignore[arg-type]


def test_silero_needs_a_loaded_model() -> None:
    options = StreamOptions(endpointing=EndpointingOptions(detector="silero"))
    with pytest.raises(InvalidArgument, match="SILERO is not available on this server"):
        StreamSession(ScriptedRecognizer(), options)


def test_silero_stream_finds_both_utterances(speech: np.ndarray) -> None:
    options = StreamOptions(endpointing=EndpointingOptions(detector="silero"))
    session = StreamSession(ScriptedRecognizer(), options, silero=SileroModel.load())
    actions = _run(session, _split(float_to_pcm16(speech), [3200]))
    assert [(kind, index) for kind, index, _ in _summary(actions)] == [
        ("SpeechStarted", 0), ("SpeechEnded", 0), ("FinalRequest", 0),
        ("SpeechStarted", 1), ("SpeechEnded", 1), ("FinalRequest", 1),
    ]


# --- speculative finals, finalize and eagerness ----------------------------------------------

def _paused(gap_s: float) -> np.ndarray:
    """First sentence, `gap_s` of silence, second sentence, 1 s of silence."""
    first, second = (espeak(text) for text in SENTENCES)
    parts = []
    for samples, after_s in ((first, gap_s), (second, 1.0)):
        loud = np.flatnonzero(np.abs(samples) > 0.02)
        parts += [samples[loud[0] : loud[-1] + 1], np.zeros(round(after_s * RATE), np.float32)]
    return np.concatenate([np.zeros(RATE // 2, np.float32), *parts])


def _push_all(session: StreamSession, audio: np.ndarray, chunk_bytes: int = 3200,
              decode: bool = False) -> list[Action]:
    """Push `audio` in chunks; with `decode`, each candidate is decoded at once and its text
    reported back, as LiveStream does."""
    actions: list[Action] = []
    for chunk in _split(float_to_pcm16(audio), [chunk_bytes]):
        for action in session.push(chunk):
            actions.append(action)
            if decode and isinstance(action, CandidateRequest):
                session.candidate_decoded(action, session.transcribe(action))
    return actions


def test_speculative_final_is_dropped_when_speech_resumes() -> None:
    # A 0.4 s pause inside one utterance (min_silence_ms 800, eagerness LOW keeps it at 800).
    options = StreamOptions(eagerness=Eagerness.LOW,
                            endpointing=EndpointingOptions(min_silence_ms=800))
    session = StreamSession(ScriptedRecognizer(), options)
    actions = _push_all(session, _paused(0.4))
    kinds = [type(a).__name__ for a in actions]
    assert kinds == ["SpeechStarted", "CandidateRequest", "CandidateRequest", "SpeechEnded",
                     "FinalRequest"]
    stale, kept, ended, final = actions[1], actions[2], actions[3], actions[4]
    assert isinstance(stale, CandidateRequest) and isinstance(kept, CandidateRequest)
    assert isinstance(ended, SpeechEnded) and isinstance(final, FinalRequest)
    # The first candidate was taken 60 ms (two frames) into the pause, before the second
    # sentence.
    assert stale.end_s - stale.speech_end_s == pytest.approx(0.06, abs=0.03)
    assert stale.speech_end_s < kept.speech_end_s - 1.0
    assert not session.is_current(stale)  # speech resumed: never used
    # The one final names the candidate taken after the second sentence, which holds all of
    # the utterance's speech: the same start, the same speech end, every sample of it.
    assert final.candidate is kept
    assert (kept.utterance_index, kept.start_s, kept.speech_end_s) == (
        0, ended.start_s, ended.speech_end_s)
    assert final.audio is kept.audio and (final.start_s, final.end_s) == (kept.start_s,
                                                                         kept.end_s)
    # The same audio that a final without a candidate decodes: a stream whose messages are
    # too long for a candidate to come before the endpoint gets the same final.
    whole = StreamSession(ScriptedRecognizer(), options).push(float_to_pcm16(_paused(0.4)))
    assert [type(a).__name__ for a in whole] == ["SpeechStarted", "SpeechEnded",
                                                 "FinalRequest"]
    unspeculated = whole[-1]
    assert isinstance(unspeculated, FinalRequest) and unspeculated.candidate is None
    assert np.array_equal(unspeculated.audio, kept.audio)
    assert unspeculated.end_s == kept.end_s
    # Its result is the candidate's text and span.
    result = session.result(final, ScriptedRecognizer(["Two sentences."]).transcribe(
        kept.audio, options.transcribe))
    assert (result.text, result.is_final, result.end_s) == ("Two sentences.", True, kept.end_s)


def test_a_candidate_ending_a_sentence_ends_the_utterance_sooner() -> None:
    def silence_kept(texts: list[str], eagerness: Eagerness) -> float:
        """The trailing silence the utterance kept: the silence it took to end it (the
        300 ms padding is cut short by an earlier endpoint), in 30 ms frames."""
        session = StreamSession(ScriptedRecognizer(texts), StreamOptions(eagerness=eagerness))
        actions = _push_all(session, _paused(1.5), chunk_bytes=320, decode=True)
        ended = next(a for a in actions if isinstance(a, SpeechEnded))
        final = next(a for a in actions if isinstance(a, FinalRequest))
        assert final.candidate is not None and ended.cause == "silence"
        return ended.end_s - ended.speech_end_s

    # min_silence_ms 500 (the default) would keep all 300 ms of padding.
    # BALANCED and HIGH: 150 ms (five frames) once the candidate (taken at 60 ms, two frames,
    # and decoded at once here) ends a sentence; the final keeps 60 ms of it.
    assert silence_kept(["A sentence."], Eagerness.BALANCED) == pytest.approx(0.15)
    assert silence_kept(["A sentence."], Eagerness.HIGH) == pytest.approx(0.15)
    assert silence_kept(["A sentence."], Eagerness.LOW) == pytest.approx(0.3)
    assert silence_kept(["Please call me and"], Eagerness.HIGH) == pytest.approx(0.3)
    # Mid-phrase, BALANCED waits 1000 ms: a 0.7 s pause does not end the utterance, which
    # min_silence_ms (500) alone would.
    def finals(texts: list[str]) -> int:
        session = StreamSession(ScriptedRecognizer(texts),
                                StreamOptions(eagerness=Eagerness.BALANCED))
        actions = _push_all(session, _paused(0.7), decode=True) + session.finish()
        return sum(isinstance(a, FinalRequest) for a in actions)

    assert finals(["Please call me and"] * 2) == 1
    assert finals(["The quick brown fox jumps over the lazy dog."] * 2) == 2
    # A mid-phrase pause's longer wait ends when speech resumes: the next pause is judged by
    # its own candidate, here a finished sentence, which ends the utterance after 150 ms.
    session = StreamSession(ScriptedRecognizer(["Please call me and", "Two sentences."]),
                            StreamOptions(eagerness=Eagerness.BALANCED))
    actions = _push_all(session, _paused(0.7), chunk_bytes=320, decode=True)
    ended = [a for a in actions if isinstance(a, SpeechEnded)]
    assert len(ended) == 1 and ended[0].end_s - ended[0].speech_end_s == pytest.approx(0.15)


def test_a_late_candidate_ends_the_utterance_without_waiting_for_more_audio() -> None:
    # The candidate is taken 60 ms into the pause but decoded only after 0.4 s of it has
    # arrived (a loaded machine): its finished sentence (150 ms) is then long past, so the
    # utterance ends as soon as its text is known, not at the next message.
    session = StreamSession(ScriptedRecognizer(["Please call me back."]), StreamOptions())
    samples = espeak(SENTENCES[0])
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), samples[loud[0] : loud[-1] + 1],
                            np.zeros(round(0.4 * RATE), np.float32)])
    actions = _push_all(session, audio, chunk_bytes=320)
    candidates = [a for a in actions if isinstance(a, CandidateRequest)]
    assert [type(a) for a in actions] == [SpeechStarted, CandidateRequest]
    assert session.end_if_silent() == []  # min_silence_ms (500) is not reached yet
    assert session.candidate_decoded(candidates[0], session.transcribe(candidates[0]))
    ended, final = session.end_if_silent()
    assert isinstance(ended, SpeechEnded) and ended.cause == "silence"
    assert isinstance(final, FinalRequest) and final.candidate is candidates[0]
    assert session.end_if_silent() == []  # nothing open any more
    # A candidate that does not end a sentence leaves the endpoint where it was.
    session = StreamSession(ScriptedRecognizer(["Please call me and"]), StreamOptions())
    candidate = next(a for a in _push_all(session, audio, chunk_bytes=320)
                     if isinstance(a, CandidateRequest))
    assert not session.candidate_decoded(candidate, session.transcribe(candidate))
    assert session.end_if_silent() == []


def test_finalize_ends_the_open_utterance_at_once(speech: np.ndarray) -> None:
    session = StreamSession(ScriptedRecognizer(), StreamOptions())
    first_end = round(1.6 * RATE)  # inside the first sentence
    pushed = _push_all(session, speech[:first_end])
    assert [type(a) for a in pushed] == [SpeechStarted]
    finalized = session.finalize()
    assert [type(a) for a in finalized] == [SpeechEnded, FinalRequest]
    ended = finalized[0]
    assert isinstance(ended, SpeechEnded) and ended.cause == "finalize"
    assert ended.end_s == pytest.approx(first_end / RATE, abs=0.031)
    assert session.finalize() == []  # nothing open
    # The stream goes on: the rest of the audio opens the next utterances.
    rest = _push_all(session, speech[first_end:]) + session.finish()
    starts = [a.utterance_index for a in rest if isinstance(a, SpeechStarted)]
    assert starts and starts[0] == 1
