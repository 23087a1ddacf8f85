"""StreamingRecognize over gRPC against a real server on the real tiny.en model.

Speech is espeak-ng's (tests/speech.py) with known text; streams are real gRPC clients sending
LINEAR16 in 20-100 ms messages unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import soxr
from prometheus_client.parser import text_string_to_metric_families

from tests.serverproc import ServerProcess, free_port
from tests.speech import espeak, join, noise, sentences, silence, wav_bytes
from tests.wer import wer
from voxserve.server.audio.codecs import float_to_mulaw
from voxserve.server.inference import InferencePool
from voxserve.server.streaming.eagerness import CANDIDATE_SILENCE_MS
from voxserve.server.streaming.endpointer import SpeechStarted
from voxserve.server.streaming.live import ActionFeed, InterimBudget
from voxserve.server.streaming.session import InterimRequest
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

RATE = 16000
LINEAR16 = audio_pb2.AUDIO_ENCODING_LINEAR16
STARTED = recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
ENDED = recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED
END_OF_SINGLE = recognizer_pb2.SPEECH_EVENT_TYPE_END_OF_SINGLE_UTTERANCE
# Sentences tiny.en gets word for word from espeak-ng (measured: WER 0 on each alone).
CLEAN = (1, 3, 4, 6, 8, 9)
# Message sizes cycled through a stream: 20, 50 and 100 ms of 16 kHz LINEAR16.
CHUNK_MS = (20, 50, 100)
PAD_MS = 300  # EndpointingOptions.speech_pad_ms default
FRAME_MS = 30  # WebRTC VAD frame
# WebRTC's VAD goes on calling frames speech a little after speech ends (measured 100-125 ms).
WEBRTC_HANGOVER_MS = 150
# tiny.en on espeak-ng: each clean sentence alone is word for word; a final's audio is cut by
# the VAD, which may cost a word at the edges.
# Measured 0.0 on every clean 16 kHz sentence here with tiny.en float32; with int8 (the CPU
# default) one word of a sentence at most: "work" for espeak's "book", "awesome" for "autumn"
# when a finalize cuts the audio at its last sample. The endpointer cuts by audio, not by time,
# so a final's text is the same on every run.
UTTERANCE_WER_BOUND = 0.125
# 8 kHz mu-law loses everything above 4 kHz: measured 1 word in 6 of sentence 8.
TELEPHONE_WER_BOUND = 1 / 6


@dataclass
class Outcome:
    """Everything one stream received, and how it ended."""

    responses: list[recognizer_pb2.StreamingRecognizeResponse]
    code: grpc.StatusCode
    details: str

    @property
    def finals(self) -> list[recognizer_pb2.StreamingRecognitionResult]:
        return [r.result for r in self.responses if r.HasField("result") and r.result.is_final]

    @property
    def interims(self) -> list[recognizer_pb2.StreamingRecognitionResult]:
        return [r.result for r in self.responses
                if r.HasField("result") and not r.result.is_final]

    def events(self, kind: int) -> list[recognizer_pb2.SpeechEvent]:
        return [r.speech_event for r in self.responses
                if r.HasField("speech_event") and r.speech_event.type == kind]

    @property
    def text(self) -> str:
        return " ".join(f.transcript for f in self.finals)


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()


def split(data: bytes, chunk_ms: Sequence[int], bytes_per_ms: int) -> list[bytes]:
    sizes = itertools.cycle(ms * bytes_per_ms for ms in chunk_ms)
    chunks, at = [], 0
    while at < len(data):
        size = next(sizes)
        chunks.append(data[at : at + size])
        at += size
    return chunks


def streaming_config(
    rate_hz: int = RATE, encoding: int = LINEAR16, channels: int = 1, *, words: bool = False,
    interim_results: bool = False, interim_interval_ms: int | None = None,
    single_utterance: bool = False,
    endpointing: recognizer_pb2.EndpointingConfig | None = None,
) -> recognizer_pb2.StreamingRecognitionConfig:
    return recognizer_pb2.StreamingRecognitionConfig(
        config=recognizer_pb2.RecognitionConfig(
            encoding=encoding, sample_rate_hz=rate_hz, audio_channel_count=channels,
            enable_word_time_offsets=words),
        interim_results=interim_results, interim_interval_ms=interim_interval_ms,
        single_utterance=single_utterance, endpointing=endpointing)


def requests(config: recognizer_pb2.StreamingRecognitionConfig | None, chunks: list[bytes],
             realtime_bytes_per_s: int = 0, hold_open: threading.Event | None = None
             ) -> Iterator[recognizer_pb2.StreamingRecognizeRequest]:
    if config is not None:
        yield recognizer_pb2.StreamingRecognizeRequest(streaming_config=config)
    started_s, sent = time.monotonic(), 0
    for chunk in chunks:
        sent += len(chunk)
        if realtime_bytes_per_s:
            time.sleep(max(0.0, started_s + sent / realtime_bytes_per_s - time.monotonic()))
        yield recognizer_pb2.StreamingRecognizeRequest(audio_content=chunk)
    if hold_open is not None:
        hold_open.wait(60)  # keep the request stream open (no half-close)


def run(target: str, request_iterator: Iterator[recognizer_pb2.StreamingRecognizeRequest],
        timeout_s: float = 180) -> Outcome:
    responses: list[recognizer_pb2.StreamingRecognizeResponse] = []
    with grpc.insecure_channel(target) as channel:
        call = recognizer_pb2_grpc.RecognizerStub(channel).StreamingRecognize(
            request_iterator, timeout=timeout_s)
        try:
            for response in call:
                responses.append(response)
        except grpc.RpcError:
            pass
        return Outcome(responses, call.code(), call.details() or "")


def stream(target: str, audio: np.ndarray, chunk_ms: Sequence[int] = CHUNK_MS,
           realtime: bool = False, **options: Any) -> Outcome:
    """Stream 16 kHz float audio as LINEAR16 and half-close; returns what came back."""
    config = streaming_config(**options)
    chunks = split(pcm16(audio), chunk_ms, RATE * 2 // 1000)
    return run(target, requests(config, chunks, RATE * 2 if realtime else 0))


def untimed(results: list[recognizer_pb2.StreamingRecognitionResult]
            ) -> list[recognizer_pb2.StreamingRecognitionResult]:
    """Results without latency_ms, the one field that depends on the machine's speed."""
    copies = []
    for result in results:
        copy = recognizer_pb2.StreamingRecognitionResult()
        copy.CopyFrom(result)
        copy.ClearField("latency_ms")
        copies.append(copy)
    return copies


def trimmed(text: str) -> np.ndarray:
    """A sentence's speech with espeak's leading and trailing near-silence cut off."""
    samples = espeak(text)
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1]


def recording(texts: Sequence[str], gap_s: float, lead_s: float = 0.5, tail_s: float = 1.0
              ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Sentences separated by `gap_s` of silence, and where each one's speech lies (s)."""
    parts, spans, at_s = [silence(lead_s)], [], lead_s
    for index, text in enumerate(texts):
        speech = trimmed(text)
        spans.append((at_s, at_s + len(speech) / RATE))
        parts.append(speech)
        at_s += len(speech) / RATE
        gap = gap_s if index < len(texts) - 1 else tail_s
        parts.append(silence(gap))
        at_s += gap
    return join(*parts), spans


@pytest.fixture(scope="module")
def solo_finals(server: ServerProcess) -> list[str]:
    """Each sentence streamed alone: its finals' text, for the WER and concurrency tests."""
    audios = [join(silence(0.5), espeak(text), silence(0.8)) for text in sentences()]
    return [stream(server.target, audio).text for audio in audios]


def test_multi_utterance_finals_text_offsets_and_events(server: ServerProcess) -> None:
    texts = [sentences()[i] for i in CLEAN[:3]]
    audio, spans = recording(texts, gap_s=1.2)
    outcome = stream(server.target, audio, words=True)
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    finals = outcome.finals
    assert [f.utterance_index for f in finals] == [0, 1, 2]
    for final, text, (start_s, end_s) in zip(finals, texts, spans, strict=True):
        assert wer([text], [final.transcript]) <= UTTERANCE_WER_BOUND, (text, final.transcript)
        # Offsets count from the stream's start: speech start minus the padding (within a VAD
        # frame or two), speech end plus WebRTC's hangover and the padding.
        start_ms, end_ms = start_s * 1000, end_s * 1000
        assert start_ms - PAD_MS - 2 * FRAME_MS <= final.start_offset_ms <= start_ms + FRAME_MS
        assert end_ms <= final.end_offset_ms <= end_ms + WEBRTC_HANGOVER_MS + PAD_MS
        assert final.stability == 1.0 and final.language_code == "en"
        assert 0.0 < final.confidence <= 1.0
        words = list(final.words)
        assert len(words) == len(final.transcript.split())
        assert all(final.start_offset_ms <= w.start_offset_ms <= w.end_offset_ms
                   <= final.end_offset_ms + 1 for w in words)
    # The events mark the speech; the results span it with the padding either side (the
    # trailing silence of each utterance is longer than the padding).
    started, ended = outcome.events(STARTED), outcome.events(ENDED)
    assert [(e.utterance_index, e.offset_ms) for e in started] == [
        (f.utterance_index, f.start_offset_ms + PAD_MS) for f in finals]
    # Each final is its candidate, decoded once 60 ms of the pause were heard (two 30 ms
    # frames): its audio ends there, inside the padding.
    assert [(e.utterance_index, e.offset_ms) for e in ended] == [
        (f.utterance_index, f.end_offset_ms - CANDIDATE_SILENCE_MS) for f in finals]
    # Each utterance: SPEECH_STARTED, SPEECH_ENDED, then its final, before the next one starts.
    kinds = ["final" if r.HasField("result") else r.speech_event.type for r in outcome.responses]
    assert kinds == [STARTED, ENDED, "final"] * 3
    # Any split of the same audio gives the same results (offsets count samples).
    again = stream(server.target, audio, chunk_ms=(100,), words=True)
    assert untimed(again.finals) == untimed(finals)


def test_interim_results_arrive_before_the_final(server: ServerProcess) -> None:
    text = sentences()[6]
    audio = join(silence(0.3), espeak(text), silence(0.8))
    outcome = stream(server.target, audio, realtime=True, interim_results=True,
                     interim_interval_ms=300)
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    results = [r.result for r in outcome.responses if r.HasField("result")]
    assert len(outcome.finals) == 1 and results[-1].is_final
    final = results[-1]
    assert outcome.interims, "no interim result before the final"
    for interim in outcome.interims:
        assert interim.utterance_index == 0 and interim.transcript
        assert interim.start_offset_ms == final.start_offset_ms
        assert interim.end_offset_ms < final.end_offset_ms
        assert 0.0 <= interim.stability <= 1.0
        assert not interim.words
    ends = [i.end_offset_ms for i in outcome.interims]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    assert wer([text], [final.transcript]) <= UTTERANCE_WER_BOUND


def test_half_close_flushes_the_open_utterance(server: ServerProcess) -> None:
    text = sentences()[4]
    speech = espeak(text)
    audio = join(silence(0.5), speech)  # speech runs to the very end: no silence to end it
    # min_silence 5 s: only the flush at half-close can end the utterance.
    outcome = stream(server.target, join(audio, silence(1.0)),
                     endpointing=recognizer_pb2.EndpointingConfig(min_silence_ms=5000))
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    assert len(outcome.finals) == 1
    assert wer([text], [outcome.finals[0].transcript]) <= UTTERANCE_WER_BOUND
    cut = stream(server.target, audio)
    assert [f.utterance_index for f in cut.finals] == [0]
    assert wer([text], [cut.finals[0].transcript]) <= UTTERANCE_WER_BOUND
    assert cut.finals[0].end_offset_ms <= round(len(audio) / 16)
    # speech ended where the detector last heard it; the audio kept after it is cut at the end
    # of the stream, so at most the padding
    [speech_ended] = [e.offset_ms for e in cut.events(ENDED)]
    assert speech_ended <= cut.finals[0].end_offset_ms <= speech_ended + PAD_MS


def test_silence_and_low_noise_give_no_results(server: ServerProcess) -> None:
    for audio in (silence(3.0), noise(3.0, rms=0.002)):
        outcome = stream(server.target, audio, interim_results=True)
        assert outcome.code == grpc.StatusCode.OK, outcome.details
        assert outcome.responses == []


def test_pause_shorter_than_min_silence_stays_one_utterance(server: ServerProcess) -> None:
    texts = [sentences()[i] for i in (1, 9)]
    audio, _ = recording(texts, gap_s=0.4)
    # LOW eagerness: the first sentence's end does not shorten the wait (BALANCED would end
    # it once its candidate is decoded; test_finished_sentences_end_sooner_than_min_silence).
    joined = stream(server.target, audio, endpointing=recognizer_pb2.EndpointingConfig(
        min_silence_ms=800, eagerness=recognizer_pb2.ENDPOINT_EAGERNESS_LOW))
    assert [f.utterance_index for f in joined.finals] == [0]
    assert wer([" ".join(texts)], [joined.text]) <= UTTERANCE_WER_BOUND
    # The pause is real: a min_silence below it splits the same audio in two.
    apart = stream(server.target, audio,
                   endpointing=recognizer_pb2.EndpointingConfig(min_silence_ms=200))
    assert len(apart.finals) >= 2


def test_finished_sentences_end_sooner_than_min_silence(server: ServerProcess) -> None:
    texts = [sentences()[i] for i in (1, 9)]
    audio, _ = recording(texts, gap_s=1.5)
    # Paced in real time: the endpoint waits for the candidate's text, which takes a decode
    # (the gap leaves it 1.35 s, room for a loaded machine).
    outcome = stream(server.target, audio, realtime=True,
                     endpointing=recognizer_pb2.EndpointingConfig(min_silence_ms=3000))
    # BALANCED: the candidate decoded 60 ms into the silence after "message." ended the
    # first 150 ms into it; min_silence_ms alone would join the two.
    assert [f.utterance_index for f in outcome.finals] == [0, 1]
    assert wer(texts, [f.transcript for f in outcome.finals]) <= UTTERANCE_WER_BOUND
    # The finals were the candidates: ready at the endpoint.
    assert all(f.latency_ms <= 50 for f in outcome.finals)


def test_speculative_final_is_dropped_when_speech_resumes(limited: ServerProcess,
                                                           metrics_port: int) -> None:
    texts = [sentences()[i] for i in (1, 9)]
    audio, _ = recording(texts, gap_s=0.45, lead_s=0.2, tail_s=0.6)  # under 6 s (limited)
    before = candidate_counts(metrics_port)
    outcome = stream(limited.target, audio, interim_results=True, endpointing=(
        recognizer_pb2.EndpointingConfig(min_silence_ms=800,
                                         eagerness=recognizer_pb2.ENDPOINT_EAGERNESS_LOW)))
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    after = candidate_counts(metrics_port)
    # The pause took a candidate that resumed speech dropped; the one after the second
    # sentence became the final: one final (none twice), with every word of both sentences.
    assert after["dropped"] - before["dropped"] >= 1
    assert after["used"] - before["used"] == 1
    assert [f.utterance_index for f in outcome.finals] == [0]
    assert wer([" ".join(texts)], [outcome.text]) <= UTTERANCE_WER_BOUND


def responses_marking_finals(
    target: str, messages: Iterator[recognizer_pb2.StreamingRecognizeRequest],
    final_seen: threading.Event,
) -> list[recognizer_pb2.StreamingRecognizeResponse]:
    """A stream's responses, `final_seen` set at each final as it arrives (a request generator
    holding the stream open waits on it); the stream must end OK."""
    responses: list[recognizer_pb2.StreamingRecognizeResponse] = []
    with grpc.insecure_channel(target) as channel:
        call = recognizer_pb2_grpc.RecognizerStub(channel).StreamingRecognize(
            messages, timeout=120)
        for response in call:
            responses.append(response)
            if response.HasField("result") and response.result.is_final:
                final_seen.set()
        assert call.code() == grpc.StatusCode.OK
    return responses


def test_finalize_ends_the_utterance_at_once(server: ServerProcess) -> None:
    text = sentences()[3]
    chunks = split(pcm16(join(silence(0.3), trimmed(text))), CHUNK_MS, RATE * 2 // 1000)
    final_seen = threading.Event()

    def messages() -> Iterator[recognizer_pb2.StreamingRecognizeRequest]:
        yield from requests(streaming_config(), chunks)
        yield recognizer_pb2.StreamingRecognizeRequest(
            finalize_utterance=recognizer_pb2.FinalizeUtterance())
        # No silence follows and the stream stays open: only finalize can end the utterance.
        final_seen.wait(60)
        # The next press of the talk button: a pause, then another sentence.
        yield from requests(None, split(pcm16(join(silence(0.5), trimmed(sentences()[9]),
                                                   silence(1.0))), CHUNK_MS, RATE * 2 // 1000))

    responses = responses_marking_finals(server.target, messages(), final_seen)
    outcome = Outcome(responses, grpc.StatusCode.OK, "")
    assert [e.utterance_index for e in outcome.events(ENDED)] == [0, 1]
    first, second = outcome.finals
    assert wer([text], [first.transcript]) <= UTTERANCE_WER_BOUND
    assert wer([sentences()[9]], [second.transcript]) <= UTTERANCE_WER_BOUND
    assert first.end_offset_ms == pytest.approx(300 + len(trimmed(text)) * 1000 / RATE,
                                                 abs=FRAME_MS)
    assert first.latency_ms >= 0 and first.committed_transcript == first.transcript


def test_a_decoded_candidate_ends_the_utterance_without_more_audio(
    server: ServerProcess,
) -> None:
    # A sentence and 0.5 s of silence arrive at once, then no more audio while the stream
    # stays open. min_silence_ms (500) is not reached by the unvoiced part of that silence;
    # the candidate's finished sentence (150 ms) is, once the candidate is decoded, and the
    # utterance ends then, not when the next message comes.
    text = sentences()[1]
    chunks = split(pcm16(join(silence(0.3), trimmed(text), silence(0.5))), CHUNK_MS,
                   RATE * 2 // 1000)
    final_seen = threading.Event()
    before_more_audio: list[bool] = []

    def messages() -> Iterator[recognizer_pb2.StreamingRecognizeRequest]:
        yield from requests(streaming_config(), chunks)
        before_more_audio.append(final_seen.wait(60))

    responses = responses_marking_finals(server.target, messages(), final_seen)
    assert before_more_audio == [True]
    (final,) = Outcome(responses, grpc.StatusCode.OK, "").finals
    assert wer([text], [final.transcript]) <= UTTERANCE_WER_BOUND


def test_committed_words_never_change_across_interims(server: ServerProcess) -> None:
    texts = [sentences()[i] for i in (6, 4)]
    audio, _ = recording(texts, gap_s=1.0)
    outcome = stream(server.target, audio, realtime=True, interim_results=True,
                     interim_interval_ms=200)
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    assert len(outcome.interims) >= 6
    committed: dict[int, str] = {}
    grew = 0
    for interim in outcome.interims:
        before = committed.get(interim.utterance_index, "")
        assert interim.committed_transcript.startswith(before)
        grew += len(interim.committed_transcript) > len(before)
        committed[interim.utterance_index] = interim.committed_transcript
        assert interim.transcript == " ".join(
            part for part in (interim.committed_transcript, interim.tentative_transcript) if part)
        assert interim.latency_ms == 0
    # words were committed in every utterance, not just kept empty; espeak's stop after "the
    # next" may end the first sentence there (its candidate, "Turn left at the next.", ends a
    # sentence): the words are all kept, in one more final
    finals = {final.utterance_index for final in outcome.finals}
    assert grew >= 2 and len(finals) >= 2
    assert set(committed) == finals, [(f.utterance_index, f.transcript) for f in outcome.finals]
    for final in outcome.finals:
        assert (final.committed_transcript, final.tentative_transcript) == (final.transcript, "")


def test_single_utterance_ends_after_the_first_final(server: ServerProcess) -> None:
    texts = [sentences()[i] for i in (3, 8)]
    audio, _ = recording(texts, gap_s=1.2)
    outcome = stream(server.target, audio, single_utterance=True)
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    assert [f.utterance_index for f in outcome.finals] == [0]
    assert wer([texts[0]], [outcome.finals[0].transcript]) <= UTTERANCE_WER_BOUND
    last = outcome.responses[-1]
    assert last.speech_event.type == END_OF_SINGLE
    # where the speech ended, as SPEECH_ENDED says
    assert last.speech_event.offset_ms == outcome.events(ENDED)[0].offset_ms
    assert last.speech_event.offset_ms == outcome.finals[0].end_offset_ms - CANDIDATE_SILENCE_MS


@pytest.mark.parametrize(("rate_hz", "encoding", "channels"),
                         [(8000, audio_pb2.AUDIO_ENCODING_MULAW, 1), (44100, LINEAR16, 2)],
                         ids=["mulaw-8k", "linear16-44k-stereo"])
def test_other_rates_and_encodings(server: ServerProcess, rate_hz: int, encoding: int,
                                   channels: int) -> None:
    text = sentences()[8]
    audio = soxr.resample(join(silence(0.5), espeak(text), silence(0.8)), RATE, rate_hz)
    if encoding == LINEAR16:
        data = pcm16(np.repeat(audio, channels))  # interleaved, the same on every channel
    else:
        data = float_to_mulaw(audio)
    width = 2 if encoding == LINEAR16 else 1
    chunks = split(data, CHUNK_MS, rate_hz * channels * width // 1000)
    config = streaming_config(rate_hz, encoding, channels)
    outcome = run(server.target, requests(config, chunks))
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    assert len(outcome.finals) == 1
    bound = TELEPHONE_WER_BOUND if rate_hz == 8000 else UTTERANCE_WER_BOUND
    assert wer([text], [outcome.text]) <= bound, outcome.text


def test_silero_detector(server: ServerProcess) -> None:
    text = sentences()[4]
    silero = recognizer_pb2.EndpointingConfig(
        detector=recognizer_pb2.VOICE_ACTIVITY_DETECTOR_SILERO)
    outcome = stream(server.target, join(silence(0.5), espeak(text), silence(1.0)),
                     endpointing=silero)
    assert outcome.code == grpc.StatusCode.OK, outcome.details
    assert [f.utterance_index for f in outcome.finals] == [0]
    assert wer([text], [outcome.text]) <= UTTERANCE_WER_BOUND


def test_streaming_wer_within_two_points_of_recognize(server: ServerProcess,
                                                      solo_finals: list[str]) -> None:
    refs = sentences()
    with grpc.insecure_channel(server.target) as channel:
        stub = recognizer_pb2_grpc.RecognizerStub(channel)
        offline = [stub.Recognize(recognizer_pb2.RecognizeRequest(
            audio_content=wav_bytes(join(silence(0.5), espeak(text), silence(0.8)))), timeout=120
        ).transcript for text in refs]
    streaming_wer, offline_wer = wer(refs, solo_finals), wer(refs, offline)
    assert streaming_wer <= offline_wer + 0.02, list(zip(refs, offline, solo_finals, strict=True))


async def test_sixteen_concurrent_streams(server: ServerProcess, solo_finals: list[str]) -> None:
    texts = sentences()
    picks = [i % len(texts) for i in range(16)]

    async def one(channel: grpc.aio.Channel, index: int) -> Outcome:
        audio = join(silence(0.5), espeak(texts[index]), silence(0.8))
        chunks = split(pcm16(audio), CHUNK_MS, RATE * 2 // 1000)
        call = recognizer_pb2_grpc.RecognizerStub(channel).StreamingRecognize(
            requests(streaming_config(), chunks), timeout=300)
        responses = [response async for response in call]
        return Outcome(responses, await call.code(), await call.details())

    async with grpc.aio.insecure_channel(server.target) as channel:
        outcomes = await asyncio.gather(*(one(channel, i) for i in picks))
    for index, outcome in zip(picks, outcomes, strict=True):
        assert outcome.code == grpc.StatusCode.OK, outcome.details
        assert [f.utterance_index for f in outcome.finals] == [0]
        # The same audio alone gave this text: streams do not disturb each other.
        assert outcome.text == solo_finals[index]


AUDIO = recognizer_pb2.StreamingRecognizeRequest(audio_content=bytes(3200))


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (AUDIO, "first message of a stream must carry streaming_config"),
        (streaming_config(encoding=99), "config.encoding 99 is unknown"),
        (streaming_config(encoding=audio_pb2.AUDIO_ENCODING_UNSPECIFIED),
         "LINEAR16, MULAW or ALAW for StreamingRecognize, not UNSPECIFIED"),
        (streaming_config(rate_hz=0), "sample_rate_hz must be 8000 to 48000"),
        (streaming_config(channels=-1), "audio_channel_count"),
        (streaming_config(endpointing=recognizer_pb2.EndpointingConfig(min_silence_ms=50)),
         "endpointing.min_silence_ms must be 100 to 10000"),
        (streaming_config(interim_interval_ms=20), "interim_interval_ms"),
        (recognizer_pb2.StreamingRecognitionConfig(config=recognizer_pb2.RecognitionConfig(
            encoding=LINEAR16, sample_rate_hz=RATE, language_code="de")), "'de'"),
        (streaming_config(endpointing=recognizer_pb2.EndpointingConfig(eagerness=9)),
         "endpointing.eagerness 9 is unknown"),
    ],
    ids=["audio-first", "unknown-encoding", "wav-encoding", "rate-0", "channels", "min-silence",
         "interim-interval", "language", "eagerness"],
)
def test_bad_first_message_is_invalid_argument(
    server: ServerProcess, first: object, message: str
) -> None:
    speech = split(pcm16(join(silence(0.3), espeak("hello there"), silence(0.8))), (100,), 32)
    if isinstance(first, recognizer_pb2.StreamingRecognizeRequest):
        outcome = run(server.target, iter([first, *map(_audio, speech)]))
    else:
        assert isinstance(first, recognizer_pb2.StreamingRecognitionConfig)
        outcome = run(server.target, requests(first, speech))
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT
    assert message in outcome.details
    assert outcome.responses == []  # refused before any result
    assert "Traceback" not in outcome.details


def test_unknown_model_is_not_found(server: ServerProcess) -> None:
    config = recognizer_pb2.StreamingRecognitionConfig(config=recognizer_pb2.RecognitionConfig(
        encoding=LINEAR16, sample_rate_hz=RATE, model="no-such-model"))
    outcome = run(server.target, requests(config, [bytes(3200)]))
    assert outcome.code == grpc.StatusCode.NOT_FOUND
    assert "no-such-model" in outcome.details and outcome.responses == []


def _audio(chunk: bytes) -> recognizer_pb2.StreamingRecognizeRequest:
    return recognizer_pb2.StreamingRecognizeRequest(audio_content=chunk)


# --- limits, admission and drain, each on a server of its own -------------------------------

LIMITS = ("--max-message-audio-bytes", "16384", "--stream-idle-timeout-s", "1.5",
          "--first-message-timeout-s", "1", "--max-stream-duration-s", "6", "--max-streams", "1")


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def limited(models_dir: Path, metrics_port: int) -> Iterator[ServerProcess]:
    """A server with small stream limits, one stream at a time, and metrics on."""
    with ServerProcess(models_dir, *LIMITS, "--metrics-port", str(metrics_port)) as proc:
        proc.wait_serving()
        yield proc


def final_latency_count(metrics_port: int, suffix: str = "count") -> float:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return next(sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == f"voxserve_final_latency_seconds_{suffix}")


def test_final_latency_counts_from_the_end_of_speech(limited: ServerProcess,
                                                     metrics_port: int) -> None:
    # Paced in real time with a 2 s endpoint (LOW: the sentence's end does not shorten it):
    # the audio that ends the utterance arrives 2 s after its last voiced frame's, so a
    # histogram timed from the end of speech holds at least that; one timed from the endpoint
    # decision would hold the decode only. The final's own latency_ms counts from the endpoint.
    before = final_latency_count(metrics_port, "sum")
    outcome = stream(limited.target, join(silence(0.3), trimmed(sentences()[9]), silence(2.4)),
                     realtime=True, endpointing=recognizer_pb2.EndpointingConfig(
                         min_silence_ms=2000, eagerness=recognizer_pb2.ENDPOINT_EAGERNESS_LOW))
    assert [f.utterance_index for f in outcome.finals] == [0]
    assert outcome.events(ENDED)
    # Less the message that carried the speech's end past it (up to 100 ms) and a VAD frame.
    assert final_latency_count(metrics_port, "sum") - before >= 2.0 - 0.1 - FRAME_MS / 1000


def candidate_counts(metrics_port: int) -> dict[str, float]:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    counts = {"used": 0.0, "dropped": 0.0}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "voxserve_candidate_finals_total":
                counts[sample.labels["outcome"]] = sample.value
    return counts


def test_each_final_observes_its_latency(limited: ServerProcess, metrics_port: int) -> None:
    texts = [sentences()[i] for i in (1, 9)]
    before = final_latency_count(metrics_port)
    outcome = stream(limited.target, recording(texts, gap_s=1.0)[0])
    assert len(outcome.finals) == 2
    assert final_latency_count(metrics_port) == before + 2


def test_oversized_message_is_resource_exhausted(limited: ServerProcess) -> None:
    outcome = run(limited.target, requests(streaming_config(), [bytes(3200), bytes(16386)]))
    assert outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "16386 bytes" in outcome.details and "--max-message-audio-bytes" in outcome.details


def test_config_twice_is_invalid_argument(limited: ServerProcess) -> None:
    again = recognizer_pb2.StreamingRecognizeRequest(streaming_config=streaming_config())
    outcome = run(limited.target, iter([again, _audio(bytes(3200)), again]))
    assert outcome.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "only be the first message" in outcome.details


def test_no_config_in_time_is_deadline_exceeded(limited: ServerProcess) -> None:
    hold = threading.Event()
    try:
        outcome = run(limited.target, requests(None, [], hold_open=hold))
    finally:
        hold.set()
    assert outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "--first-message-timeout-s" in outcome.details


def test_idle_stream_flushes_then_deadline_exceeded(limited: ServerProcess) -> None:
    text = sentences()[1]
    chunks = split(pcm16(join(silence(0.3), espeak(text))), (100,), 32)
    hold = threading.Event()
    try:
        outcome = run(limited.target, requests(streaming_config(), chunks, hold_open=hold))
    finally:
        hold.set()
    assert outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "--stream-idle-timeout-s" in outcome.details
    assert len(outcome.finals) == 1  # the audio heard before the silence is not lost
    assert wer([text], [outcome.text]) <= UTTERANCE_WER_BOUND


def test_too_long_stream_flushes_then_resource_exhausted(limited: ServerProcess) -> None:
    text = sentences()[3]
    audio = join(silence(0.5), espeak(text), silence(0.8), silence(4.0))  # past 6 s
    outcome = stream(limited.target, audio, chunk_ms=(100,))
    assert outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--max-stream-duration-s" in outcome.details
    assert wer([text], [outcome.text]) <= UTTERANCE_WER_BOUND


@pytest.fixture(scope="module")
def one_slot(models_dir: Path) -> Iterator[tuple[ServerProcess, int]]:
    """One stream at a time, and timeouts long enough that only the test ends a stream: the
    slot test then depends on no timing, however loaded the machine is."""
    port = free_port()
    with ServerProcess(models_dir, "--max-streams", "1", "--stream-idle-timeout-s", "600",
                       "--first-message-timeout-s", "600", "--metrics-port", str(port)) as proc:
        proc.wait_serving()
        yield proc, port


def streams_in_use(metrics_port: int) -> float:
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return next(sample.value for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "voxserve_admission_in_use"
                and sample.labels == {"kind": "recognition"})


def wait_streams_in_use(metrics_port: int, count: int) -> None:
    """Until the server reports `count` streams holding a slot (it is a state, not a delay)."""
    for _ in range(600):
        if streams_in_use(metrics_port) == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"the server never reported {count} stream(s) in use")


def test_a_stream_holds_its_slot_until_cancelled(one_slot: tuple[ServerProcess, int]) -> None:
    server, metrics_port = one_slot
    hold = threading.Event()
    with grpc.insecure_channel(server.target) as channel:
        stub = recognizer_pb2_grpc.RecognizerStub(channel)
        first = stub.StreamingRecognize(requests(streaming_config(), [], hold_open=hold),
                                        timeout=600)
        try:
            wait_streams_in_use(metrics_port, 1)
            refused = run(server.target, requests(streaming_config(), [bytes(3200)]))
            assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "at capacity" in refused.details
        finally:
            first.cancel()
            hold.set()
    wait_streams_in_use(metrics_port, 0)  # cancelling freed the slot
    outcome = run(server.target, requests(streaming_config(), [bytes(3200)]))
    assert outcome.code == grpc.StatusCode.OK, outcome.details


def test_drain_never_finalizes_an_open_utterance_early(models_dir: Path) -> None:
    """The audio stops mid-utterance (no silence follows) and the client holds the stream open:
    at drain the utterance gets half the grace to end, then the stream is handed over, its
    unfinished utterance left to the replica that resumes it (tests/test_drain_handover.py)."""
    text = sentences()[6]
    # Trimmed: espeak's own trailing silence would let a candidate end the utterance.
    chunks = split(pcm16(join(silence(0.3), trimmed(text))), (100,), 32)
    with ServerProcess(models_dir, "--grace-s", "4") as proc:
        proc.wait_serving()
        hold = threading.Event()
        responses: list[recognizer_pb2.StreamingRecognizeResponse] = []
        with grpc.insecure_channel(proc.target) as channel:
            call = recognizer_pb2_grpc.RecognizerStub(channel).StreamingRecognize(
                requests(streaming_config(), chunks, hold_open=hold), timeout=120)
            try:
                for response in call:
                    responses.append(response)
                    if response.speech_event.type == STARTED:
                        time.sleep(1.0)  # the rest of the audio arrives; the stream stays open
                        proc.process.send_signal(signal.SIGTERM)
            except grpc.RpcError:
                pass
            finally:
                hold.set()
            code, trailers = call.code(), dict(call.trailing_metadata() or ())
        assert proc.process.wait(timeout=60) == 0
    outcome = Outcome(responses, code, "")
    assert code == grpc.StatusCode.UNAVAILABLE
    assert outcome.finals == []
    assert trailers["x-voxserve-resume-offset-ms"] == "0"
    assert trailers["x-voxserve-resume-utterance-index"] == "0"


# --- the servicer's hand-over between reader and decoder, and the interim budget ------------


def _interim(index: int) -> InterimRequest:
    return InterimRequest(0, np.zeros(index, np.float32), 0.0, index / 100)


async def test_feed_hands_over_queued_actions_then_the_newest_interim_then_the_end() -> None:
    feed = ActionFeed(capacity=2)
    started, older, newer = SpeechStarted(0, 0.1), _interim(1), _interim(2)
    await feed.put(started, 1.0)
    await feed.put(older, 2.0)
    await feed.put(newer, 3.0)  # replaces the older interim: it would be stale
    await feed.end(None)
    taken = [await feed.get() for _ in range(3)]
    assert [(e.action, e.heard_s) for e in taken[:2]] == [(started, 1.0), (newer, 3.0)]
    assert taken[2].error is None


async def test_feed_blocks_the_reader_at_capacity_but_never_for_interims() -> None:
    feed = ActionFeed(capacity=2)
    events = [SpeechStarted(i, i * 1.0) for i in range(3)]
    await feed.put(events[0], 0.0)
    await feed.put(events[1], 0.0)
    third = asyncio.create_task(feed.put(events[2], 0.0))
    await asyncio.sleep(0.05)
    assert not third.done() and feed.overtaken
    interim = _interim(1)
    await asyncio.wait_for(feed.put(interim, 0.0), 1)  # an interim never waits
    assert (await feed.get()).action is events[0]
    await asyncio.wait_for(third, 1)  # room again: the reader goes on
    assert [(await feed.get()).action for _ in range(3)] == [*events[1:], interim]


def test_interim_budget_keeps_a_worker_for_finals() -> None:
    assert InterimBudget.for_pool(InferencePool(1)).slots == 1
    budget = InterimBudget.for_pool(InferencePool(4))
    assert budget.slots == 3
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    budget.release()
    assert budget.take() and not budget.take()
