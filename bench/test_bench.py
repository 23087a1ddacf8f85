"""The bench's own arithmetic: recordings of known layout, latency matching, tables, CPU reading.

No models and no peers: these check that the figures the benches print are computed right.
"""

from __future__ import annotations

import os

import numpy as np
from pytest import approx

from bench.cpu import cpu_seconds
from bench.live import StreamRun, pcm_chunks
from bench.recordings import GAP_S, conversation, filled, voiced
from bench.report import percentile, ratio, table
from bench.streaming import analyse
from bench.support import RATE_HZ, espeak, sentences
from voxserve.v1 import recognizer_pb2

SPEECH_ENDED = recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED


def test_filled_recordings_have_the_exact_length_and_the_words_spoken() -> None:
    for target_s in (2.0, 5.0, 15.0):
        recording = filled(target_s)
        assert len(recording.audio) == int(target_s * RATE_HZ)
        assert recording.audio.dtype == np.float32
        assert " ".join(sentences() * 2).startswith(recording.text)
    two = filled(2.0)
    # Shorter than any sentence: a word prefix of the first one, then silence.
    assert two.text.split() == sentences()[0].split()[:len(two.text.split())]
    assert len(voiced(espeak(two.text))) <= 2 * RATE_HZ < len(voiced(espeak(sentences()[0])))
    five = filled(5.0)
    first = voiced(espeak(sentences()[0]))
    assert np.array_equal(five.audio[:len(first)], first)
    gap = five.audio[len(first):len(first) + int(GAP_S * RATE_HZ)]
    assert not gap.any()


def test_conversation_offsets_point_at_each_utterance_voiced_audio() -> None:
    talk = conversation(3, pause_s=1.0, first=2, lead_s=0.5)
    assert [u.text for u in talk.utterances] == sentences()[2:5]
    for utterance in talk.utterances:
        start = round(utterance.speech_start_s * RATE_HZ)
        end = round(utterance.speech_end_s * RATE_HZ)
        assert np.array_equal(talk.audio[start:end], voiced(espeak(utterance.text)))
        assert not talk.audio[end:end + RATE_HZ].any()  # the pause is silence
    assert talk.utterances[0].speech_start_s == 0.5


def test_pcm_chunks_split_linear16_without_losing_samples() -> None:
    audio = np.linspace(-1, 1, 1000, dtype=np.float32)
    chunks = pcm_chunks(audio, 320)
    assert [len(c) for c in chunks] == [640, 640, 640, 80]
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2")
    assert pcm[0] == -32767 and pcm[-1] == 32767 and len(pcm) == 1000


def _result(index: int, start_ms: int, end_ms: int, final: bool,
            text: str = "") -> recognizer_pb2.StreamingRecognizeResponse:
    result = recognizer_pb2.StreamingRecognitionResult(
        transcript=text, is_final=final, utterance_index=index,
        start_offset_ms=start_ms, end_offset_ms=end_ms)
    return recognizer_pb2.StreamingRecognizeResponse(result=result)


def _ended(index: int, offset_ms: int) -> recognizer_pb2.StreamingRecognizeResponse:
    return recognizer_pb2.StreamingRecognizeResponse(speech_event=recognizer_pb2.SpeechEvent(
        type=SPEECH_ENDED, offset_ms=offset_ms, utterance_index=index))


def test_analyse_matches_finals_to_utterances_by_offset_and_times_them() -> None:
    talk = conversation(2, pause_s=1.0, lead_s=0.5)
    first, second = talk.utterances
    chunk = RATE_HZ // 10  # 100 ms chunks, chunk k sent at 100 + k ms
    sent_at = tuple(100.0 + 0.1 * (k + 1) for k in range(-(-len(talk.audio) // chunk)))

    def sent(offset_s: float) -> float:
        return sent_at[int(offset_s * RATE_HZ) // chunk]

    heard = (
        (sent(first.speech_start_s) + 0.7, _result(0, 200, 1200, final=False)),
        (sent(first.speech_end_s) + 0.6, _ended(0, 3000)),
        (sent(first.speech_end_s) + 0.9, _result(0, 200, 3000, True, first.text)),
        # the second utterance gets no interim, only its final
        (sent(second.speech_end_s) + 0.8, _ended(1, 6000)),
        (sent(second.speech_end_s) + 1.5, _result(1, 4000, 6000, True, "please call me")),
    )
    run = StreamRun(talk, chunk, 100.0, sent_at, heard, sent_at[-1] + 0.25)
    outcome = analyse(run)
    timings = [(u.final_s, u.after_endpoint_s, u.first_interim_s) for u in outcome.utterances]
    assert timings == [(approx(0.9), approx(0.3), approx(0.7)), (approx(1.5), approx(0.7), None)]
    assert outcome.hypothesis == f"{first.text} please call me"
    assert outcome.drain_s == approx(0.25)
    assert outcome.send_lag_s == 0.0
    assert outcome.holds_real_time  # 1.5 - 0.9 s of growth is within the limit


def test_a_missing_final_means_the_stream_did_not_hold_real_time() -> None:
    talk = conversation(2, pause_s=1.0)
    sent_at = tuple(float(k) for k in range(1, len(talk.audio) // 1600 + 2))
    heard = ((50.0, _result(0, 0, 3000, True, "x")),)
    outcome = analyse(StreamRun(talk, 1600, 0.0, sent_at, heard, 60.0))
    assert outcome.utterances[1].final_s is None
    assert not outcome.holds_real_time


def test_tables_ratios_and_percentiles() -> None:
    assert table(["a", "bb"], [[1.5, "x"]]) == "| a     | bb |\n|-------|----|\n| 1.500 | x  |"
    assert ratio(1.0, 4.0) == "0.25" and ratio(1.0, 0.0) == "n/a"
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 95) == 9.5


def test_cpu_seconds_reads_this_process_like_process_time() -> None:
    import time

    sum(i * i for i in range(2_000_000))  # some CPU work so the counters move
    # /proc counts in clock ticks (10 ms), process_time in ns: they agree to a few ticks.
    assert abs(cpu_seconds(os.getpid()) - time.process_time()) < 0.05


def test_tokens_keep_the_text_and_time_the_first_sentence() -> None:
    from bench.text_stream import LONG_SENTENCE, first_sentence_arrives_s, tokens

    assert len(LONG_SENTENCE.split()) == 38
    pieces = tokens("Hi, there. You")
    assert pieces == ["Hi", ",", " there", ".", " You"]
    # the "." is the fourth token: written 3 token intervals after the first
    assert first_sentence_arrives_s("Hi, there. You", 20.0) == approx(0.15)
