"""The meanings docs/api.md gives v1's fields, checked on the real server with human speech:
confidence per segment, stability, speech events at the speech's own edges, A-law in and out,
BCP-47 language codes in and out, model versions and capabilities."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import grpc
import numpy as np
import pytest

from tests.serverproc import ServerProcess
from tests.speech import wav_bytes
from tests.wer import wer
from voxserve.client.client import VoxClient
from voxserve.client.streaming import StreamSettings
from voxserve.server.streaming.eagerness import CANDIDATE_SILENCE_MS
from voxserve.v1 import audio_pb2, models_pb2, recognizer_pb2, synthesizer_pb2

REPO = Path(__file__).resolve().parent.parent
SHARED_SPEECH = REPO.parent / "shared" / "speech"  # CI keeps shared/ beside the clone
# One professional US English speaker, 8 kHz telephony prompts (asterisk-core-sounds-en-wav).
ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PROMPT = "agent-alreadyon"
PROMPT_TEXT = "That agent is already logged on. Please enter your agent number followed by the" \
    " pound key."
TELEPHONY_HZ = 8000
# tiny.en on the prompt measured 0.0 (LINEAR16 and A-law); the bound leaves room for one word.
PROMPT_WER_BOUND = 0.12
STARTED = recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
ENDED = recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED
STILL = {"noise_scale": 0.0, "noise_w": 0.0}  # the same audio on every call
_WORD_CHARS = re.compile(r"[^\w']+")  # the server's word comparison for stability


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[VoxClient]:
    with VoxClient(server.target) as client:
        yield client


def prompt_pcm16() -> bytes:
    """The prompt's 16-bit samples at 8 kHz, as the package ships them."""
    with wave.open(str(ALLISON / f"{PROMPT}.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (TELEPHONY_HZ, 1, 2)
        return wav.readframes(wav.getnframes())


def sox(data: bytes, source: list[str], target: list[str]) -> bytes:
    """Raw audio converted by sox, an encoder independent of the server's."""
    return subprocess.run(["sox", "-D", *source, "-", *target, "-"], input=data, check=True,
                          capture_output=True).stdout


def to_alaw(pcm16: bytes, rate_hz: int) -> bytes:
    # An encoder independent of the server's: sox differs from g711.c on about 1000 of the 65536
    # 16-bit values (next to segment edges), and the server must read its A-law all the same.
    raw = ["-t", "raw", "-r", str(rate_hz), "-c", "1"]
    return sox(pcm16, [*raw, "-e", "signed", "-b", "16"], [*raw, "-e", "a-law", "-b", "8"])


def from_alaw(alaw: bytes, rate_hz: int) -> bytes:
    raw = ["-t", "raw", "-r", str(rate_hz), "-c", "1"]
    return sox(alaw, [*raw, "-e", "a-law", "-b", "8"], [*raw, "-e", "signed", "-b", "16"])


def english_licence_wav(seconds: float = 28.0) -> bytes:
    """The first `seconds` of multilingual.mp3 (a person reading the MIT licence in English),
    16 kHz mono WAV: one Whisper window with many segments."""
    with av.open(str(SHARED_SPEECH / "multilingual.mp3")) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
        frames = [out.to_ndarray().reshape(-1)
                  for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    samples = np.concatenate(frames).astype(np.float32)
    return wav_bytes(samples[: int(seconds * 16000)])


def paced(chunks: list[bytes], bytes_per_s: int) -> Iterator[bytes]:
    """Chunks at the pace a microphone would deliver them (so interim results get decoded)."""
    started, sent = time.monotonic(), 0
    for chunk in chunks:
        sent += len(chunk)
        time.sleep(max(0.0, started + sent / bytes_per_s - time.monotonic()))
        yield chunk


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[at:at + size] for at in range(0, len(data), size)]


def test_segments_of_one_window_carry_their_own_confidence(client: VoxClient) -> None:
    response = client.recognize(english_licence_wav())
    segments = list(response.results)
    # Whisper cuts the 28 s window into several segments; before v1 they all shared the
    # window's mean token probability.
    assert len(segments) >= 3, [s.transcript for s in segments]
    confidences = [s.confidence for s in segments]
    assert all(0.0 < c <= 1.0 for c in confidences)
    assert len(set(confidences)) == len(confidences), confidences


def test_stability_is_the_documented_estimate(client: VoxClient) -> None:
    silence = bytes(2 * TELEPHONY_HZ)  # 1 s
    audio = silence + prompt_pcm16() + silence
    settings = StreamSettings(sample_rate_hz=TELEPHONY_HZ, interim_results=True,
                              interim_interval_ms=300)
    chunks = paced(chunked(audio, 2 * TELEPHONY_HZ // 10), 2 * TELEPHONY_HZ * 2)  # 2x real time
    results = [r.result for r in client.stream(settings, audio=chunks) if r.HasField("result")]
    interims = [r for r in results if not r.is_final]
    assert len(interims) >= 2, "too few interim results to compare"
    previous: dict[int, tuple[str, ...]] = {}
    for result in results:
        if result.is_final:
            assert result.stability == 1.0
            continue
        words = tuple(w for w in (_WORD_CHARS.sub("", x.lower()) for x in
                                  result.transcript.split()) if w)
        before = previous.get(result.utterance_index, ())
        agreeing = 0
        for old, new in zip(before, words, strict=False):
            if old != new:
                break
            agreeing += 1
        # settled words count 1, newer ones the interim's confidence
        expected = (agreeing + (len(words) - agreeing) * result.confidence) / len(words)
        assert result.stability == pytest.approx(expected, abs=1e-6)
        if not before:
            assert result.confidence > 0.0  # the first interim is no longer 0
            assert result.stability == pytest.approx(result.confidence, abs=1e-6)
        previous[result.utterance_index] = words


@pytest.mark.parametrize("pad_ms", [0, 500])
def test_speech_events_mark_the_speech_not_the_padding(client: VoxClient, pad_ms: int) -> None:
    pcm = prompt_pcm16()
    lead_s, tail_s = 1.0, 1.5
    audio = bytes(int(2 * TELEPHONY_HZ * lead_s)) + pcm + bytes(int(2 * TELEPHONY_HZ * tail_s))
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    frames = samples[: len(samples) // 80 * 80].reshape(-1, 80)  # 10 ms frames
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 0.01)  # above -40 dBFS
    speech_start_ms = 1000 * lead_s + 10 * loud[0]
    speech_end_ms = 1000 * lead_s + 10 * (loud[-1] + 1)
    settings = StreamSettings(
        sample_rate_hz=TELEPHONY_HZ,
        endpointing=recognizer_pb2.EndpointingConfig(speech_pad_ms=pad_ms, min_silence_ms=800))
    responses = list(client.stream(settings, audio=chunked(audio, 1600)))
    events = [r.speech_event for r in responses if r.HasField("speech_event")]
    finals = [r.result for r in responses if r.HasField("result") and r.result.is_final]
    assert [e.type for e in events] == [STARTED, ENDED] and len(finals) == 1
    started, ended = events[0].offset_ms, events[1].offset_ms
    # Within two 30 ms detector frames of the speech's onset; webrtcvad holds on ~100 ms past
    # its end (its hangover), never a padding's 500 ms.
    assert abs(started - speech_start_ms) <= 60, (started, speech_start_ms)
    assert speech_end_ms - 60 <= ended <= speech_end_ms + 150, (ended, speech_end_ms)
    # The result spans the audio transcribed: the speech, its padding before and at most
    # CANDIDATE_SILENCE_MS of it after (what the final decodes, candidate or not).
    kept_ms = min(pad_ms, CANDIDATE_SILENCE_MS)
    assert (finals[0].start_offset_ms, finals[0].end_offset_ms) == (started - pad_ms,
                                                                    ended + kept_ms)
    assert finals[0].language_code == "en"
    assert wer([PROMPT_TEXT], [finals[0].transcript]) <= PROMPT_WER_BOUND


def test_alaw_recordings_and_streams_are_recognized(client: VoxClient) -> None:
    alaw = to_alaw(prompt_pcm16(), TELEPHONY_HZ)
    config = recognizer_pb2.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_ALAW,
                                              sample_rate_hz=TELEPHONY_HZ)
    whole = client.recognize(alaw, config)
    assert wer([PROMPT_TEXT], [whole.transcript]) <= PROMPT_WER_BOUND, whole.transcript
    assert whole.audio_duration_ms == round(1000 * len(alaw) / TELEPHONY_HZ)
    settings = StreamSettings(sample_rate_hz=TELEPHONY_HZ, encoding=audio_pb2.AUDIO_ENCODING_ALAW)
    silence = to_alaw(bytes(2 * TELEPHONY_HZ), TELEPHONY_HZ)
    responses = client.stream(settings, audio=chunked(silence + alaw + silence, 800))
    finals = [r.result.transcript for r in responses if r.HasField("result")]
    assert wer([PROMPT_TEXT], [" ".join(finals)]) <= PROMPT_WER_BOUND, finals


def test_alaw_synthesis_is_g711_of_the_linear16_audio(client: VoxClient) -> None:
    text = "Please hold while we connect your call."
    base = {**STILL, "sample_rate_hz": TELEPHONY_HZ}
    linear = client.synthesize(text, synthesizer_pb2.SynthesisConfig(**base))  # type: ignore[arg-type]
    alaw = client.synthesize(text, synthesizer_pb2.SynthesisConfig(
        encoding=audio_pb2.AUDIO_ENCODING_ALAW, **base))  # type: ignore[arg-type]
    assert (alaw.encoding, alaw.container, alaw.sample_rate_hz) == (
        audio_pb2.AUDIO_ENCODING_ALAW, audio_pb2.AUDIO_CONTAINER_UNSPECIFIED, TELEPHONY_HZ)
    assert linear.encoding == audio_pb2.AUDIO_ENCODING_LINEAR16  # unset means LINEAR16
    # One byte a sample, which sox's G.711 decoder reads back as the LINEAR16 samples within
    # A-law's quantization step (1/16 of the magnitude, 16 at the smallest; rounding adds 8).
    assert len(alaw.audio_content) * 2 == len(linear.audio_content)
    wanted = np.frombuffer(linear.audio_content, "<i2").astype(np.int32)
    decoded = np.frombuffer(from_alaw(alaw.audio_content, TELEPHONY_HZ), "<i2").astype(np.int32)
    assert np.all(np.abs(decoded - wanted) <= np.maximum(16, np.abs(wanted) // 16) + 8)
    assert np.corrcoef(decoded, wanted)[0, 1] > 0.999
    chunks = list(client.stream_synthesize(text, synthesizer_pb2.SynthesisConfig(
        encoding=audio_pb2.AUDIO_ENCODING_ALAW, **base)))  # type: ignore[arg-type]
    assert {c.encoding for c in chunks} == {audio_pb2.AUDIO_ENCODING_ALAW}
    streamed = b"".join(c.audio_content for c in chunks)
    # sentence by sentence, the same audio give or take the joins (as for LINEAR16)
    assert abs(len(streamed) - len(alaw.audio_content)) <= 0.2 * TELEPHONY_HZ
    heard = client.recognize(wav_bytes(
        np.frombuffer(from_alaw(alaw.audio_content, TELEPHONY_HZ), "<i2") / 32768, TELEPHONY_HZ))
    assert wer([text], [heard.transcript]) <= PROMPT_WER_BOUND, heard.transcript


@pytest.mark.parametrize("tag", ["en", "EN", "en-GB", "en_us", "En-Latn-US"])
def test_recognizers_take_any_english_tag_and_return_the_primary_subtag(
    client: VoxClient, tag: str
) -> None:
    config = recognizer_pb2.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                              sample_rate_hz=TELEPHONY_HZ, language_code=tag)
    response = client.recognize(prompt_pcm16(), config)
    assert response.language_code == "en"
    assert wer([PROMPT_TEXT], [response.transcript]) <= PROMPT_WER_BOUND


@pytest.mark.parametrize(
    ("tag", "message"),
    [("de", "recognises only en, not 'de'"),
     ("english!", "config.language_code 'english!' is not a BCP-47 language tag")],
)
def test_a_language_the_model_lacks_or_no_tag_is_invalid(client: VoxClient, tag: str,
                                                         message: str) -> None:
    config = recognizer_pb2.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                              sample_rate_hz=TELEPHONY_HZ, language_code=tag)
    with pytest.raises(grpc.RpcError) as caught:
        client.recognize(prompt_pcm16(), config)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (caught.value.details() or "")


@pytest.mark.parametrize("tag", ["", "en", "EN-us", "en_US"])
def test_voices_are_chosen_by_language_and_return_their_full_tag(client: VoxClient,
                                                                 tag: str) -> None:
    response = client.synthesize("Hello.", synthesizer_pb2.SynthesisConfig(language_code=tag))
    assert (response.voice, response.language_code) == ("en_US-joe-medium", "en-US")


def test_models_list_bcp47_languages_versions_and_capabilities(client: VoxClient,
                                                               models_dir: Path) -> None:
    by_name = {m.name: m for m in client.list_models()}
    whisper, joe = by_name["whisper-tiny.en"], by_name["en_US-joe-medium"]
    assert list(whisper.language_codes) == ["en"] and list(joe.language_codes) == ["en-US"]
    for info in (whisper, joe):
        digest = hashlib.sha256((models_dir / info.name / "manifest.json").read_bytes())
        assert info.version == f"sha256:{digest.hexdigest()[:12]}"
    assert whisper.capabilities == models_pb2.ModelCapabilities(
        streaming_recognition=True, word_time_offsets=True)  # .en: no detection, no translation
    assert joe.capabilities == models_pb2.ModelCapabilities(streaming_synthesis=True)
    # The test server runs on CPU, where int8 graphs are served when the export has them.
    assert whisper.variant == "int8" and joe.variant == "float32"
    with pytest.raises(grpc.RpcError) as caught:
        client.list_models(kind=7)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unset_and_explicit_values_differ(client: VoxClient) -> None:
    """Explicit presence: 0 is a value (checked), not "the default"."""
    with pytest.raises(grpc.RpcError) as caught:
        client.synthesize("Hi.", synthesizer_pb2.SynthesisConfig(sample_rate_hz=0))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sample_rate_hz 0" in (caught.value.details() or "")
    unset = client.synthesize("Hi.", synthesizer_pb2.SynthesisConfig(**STILL))  # type: ignore[arg-type]
    assert unset.sample_rate_hz == 22050  # the voice's own rate
