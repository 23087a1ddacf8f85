"""Synthesize and StreamingSynthesize over gRPC against a real server on the real joe voice."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from tests.serverproc import ServerProcess
from tests.speech import sentences
from tests.wer import wer
from voxserve.client.client import VoxClient
from voxserve.server.audio.codecs import mulaw_to_float, pcm16_to_float
from voxserve.v1 import audio_pb2, recognizer_pb2, synthesizer_pb2

PARAGRAPH = " ".join(sentences()[:5])
# noise 0: the same audio on every call, so lengths and transcripts are exact
STILL = {"noise_scale": 0.0, "noise_w": 0.0}
LINEAR16, MULAW = audio_pb2.AUDIO_ENCODING_LINEAR16, audio_pb2.AUDIO_ENCODING_MULAW
WAV = audio_pb2.AUDIO_CONTAINER_WAV


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[VoxClient]:
    with VoxClient(server.target) as client:
        yield client


def config(**fields: object) -> synthesizer_pb2.SynthesisConfig:
    return synthesizer_pb2.SynthesisConfig(**{**STILL, **fields})  # type: ignore[arg-type]


def test_paragraph_round_trip_through_our_recognizer(client: VoxClient) -> None:
    """Speak with the default noise (as users hear it), transcribe with the server's Whisper."""
    spoken = client.synthesize(PARAGRAPH, synthesizer_pb2.SynthesisConfig(container=WAV))
    assert spoken.voice == "en_US-joe-medium" and spoken.sample_rate_hz == 22050
    heard = client.recognize(spoken.audio_content)
    # measured 0.000-0.065 on tests/data/sentences.txt; issue 5 asks for under 10 %
    assert wer([PARAGRAPH], [heard.transcript]) < 0.10, heard.transcript


def test_wav_response_is_a_valid_file_of_the_stated_length(client: VoxClient) -> None:
    response = client.synthesize("Hello there.", config(container=WAV))
    with wave.open(io.BytesIO(response.audio_content)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 22050)
        frames = wav.getnframes()
    assert response.audio_duration_ms == round(1000 * frames / 22050)
    # measured 1001 ms with the noise off; one 256-sample VITS frame (11.6 ms) of slack for
    # another execution provider's rounding of the predicted durations
    assert response.audio_duration_ms == pytest.approx(1001, abs=12)


def test_streamed_chunks_add_up_to_the_unary_audio(client: VoxClient) -> None:
    unary = client.synthesize(PARAGRAPH, config(encoding=LINEAR16))
    chunks = list(client.stream_synthesize(PARAGRAPH, config(encoding=LINEAR16)))
    assert [c.sentence_index for c in chunks] == list(range(5))
    assert [c.text for c in chunks] == sentences()[:5]
    offsets = [c.offset_ms for c in chunks]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    streamed = b"".join(c.audio_content for c in chunks)
    # one sentence's silence (200 ms at 22050 Hz, 2 bytes a sample) is the allowed difference
    assert abs(len(streamed) - len(unary.audio_content)) <= 2 * 22050 * 0.2
    assert sum(c.audio_duration_ms for c in chunks) == pytest.approx(unary.audio_duration_ms,
                                                                     abs=200)


def test_resampled_output_has_the_requested_rate(client: VoxClient) -> None:
    native = client.synthesize("Testing the rate.", config())
    for rate_hz in (8000, 16000, 48000):
        response = client.synthesize("Testing the rate.", config(sample_rate_hz=rate_hz))
        assert response.sample_rate_hz == rate_hz
        samples = pcm16_to_float(response.audio_content)
        assert len(samples) == pytest.approx(native.audio_duration_ms * rate_hz / 1000, rel=0.01)
        # resampled, not merely relabelled: the energy stays where the voice is
        assert float(np.sqrt(np.mean(samples**2))) > 0.01


def test_mulaw_for_telephony(client: VoxClient) -> None:
    response = client.synthesize("Your call is important to us.",
                                 config(encoding=MULAW, sample_rate_hz=8000))
    assert response.encoding == MULAW and response.sample_rate_hz == 8000
    # one byte a sample (the duration is rounded to whole milliseconds: 8 samples)
    assert len(response.audio_content) == pytest.approx(response.audio_duration_ms * 8, abs=8)
    heard = client.recognize(response.audio_content, recognizer_pb2.RecognitionConfig(
        encoding=MULAW, sample_rate_hz=8000))
    assert wer(["Your call is important to us."], [heard.transcript]) == 0.0  # measured exact


def test_speaking_rate_changes_the_length(client: VoxClient) -> None:
    normal = client.synthesize(PARAGRAPH, config()).audio_duration_ms
    fast = client.synthesize(PARAGRAPH, config(speaking_rate=2.0)).audio_duration_ms
    # measured 0.648: the phonemes take half the time, the sentence silences do not shrink
    assert fast / normal == pytest.approx(0.648, abs=0.01)


def test_any_unicode_is_spoken_or_skipped(client: VoxClient) -> None:
    for text in ("Café crème, naïve façade.", "Price: 12 € — ok? 🙂", "日本語 and English",
                 "\u200b\u0000tab\tand\nnewline"):
        assert client.synthesize(text, config()).audio_duration_ms > 0


@pytest.mark.parametrize(
    ("text", "settings", "code", "message"),
    [
        ("", {}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ("   \n\t ", {}, grpc.StatusCode.INVALID_ARGUMENT, "text is empty"),
        ("x" * 4097, {}, grpc.StatusCode.INVALID_ARGUMENT, "the limit is 4096 bytes"),
        ("... ?! \u200b", {}, grpc.StatusCode.INVALID_ARGUMENT, "nothing to speak"),
        ("Hi.", {"voice": "nobody"}, grpc.StatusCode.NOT_FOUND, "unknown voice 'nobody'"),
        ("Hi.", {"speaking_rate": 9.0}, grpc.StatusCode.INVALID_ARGUMENT, "speaking_rate"),
        ("Hi.", {"sample_rate_hz": 96000}, grpc.StatusCode.INVALID_ARGUMENT, "sample_rate_hz"),
        ("Hi.", {"encoding": 99}, grpc.StatusCode.INVALID_ARGUMENT, "config.encoding 99"),
        ("Hi.", {"container": WAV, "encoding": MULAW}, grpc.StatusCode.INVALID_ARGUMENT,
         "WAV holds LINEAR16"),
        ("Hi.", {"speaking_rate": 0.0}, grpc.StatusCode.INVALID_ARGUMENT, "speaking_rate 0"),
        ("Hi.", {"language_code": "de"}, grpc.StatusCode.NOT_FOUND, "no voice speaks"),
        ("Hi.", {"voice": "en_US-joe-medium", "language_code": "en-GB"},
         grpc.StatusCode.INVALID_ARGUMENT, "speaks en-US, not config.language_code 'en-GB'"),
        ("Hi.", {"language_code": "english!"}, grpc.StatusCode.INVALID_ARGUMENT, "BCP-47"),
        ("Hi.", {"speaker_id": 3}, grpc.StatusCode.INVALID_ARGUMENT, "speaker"),
    ],
    ids=["empty", "whitespace", "too-long", "punctuation-only", "unknown-voice", "rate",
         "sample-rate", "unknown-encoding", "wav-mulaw", "explicit-zero-rate", "no-voice-for-de",
         "voice-lacks-region", "not-a-tag", "speaker"],
)
def test_bad_requests(client: VoxClient, text: str, settings: dict[str, object],
                      code: grpc.StatusCode, message: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.synthesize(text, synthesizer_pb2.SynthesisConfig(**settings))  # type: ignore[arg-type]
    assert caught.value.code() == code
    assert message in caught.value.details()


def test_streaming_limits(client: VoxClient) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(client.stream_synthesize("Hi.", config(container=WAV)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "WAV is for Synthesize" in caught.value.details()
    with pytest.raises(grpc.RpcError) as caught:
        list(client.stream_synthesize("word " * 13108, config()))  # 65540 bytes
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "the limit is 65536 bytes" in caught.value.details()


def test_long_text_past_the_response_cap_points_to_streaming(models_dir: object) -> None:
    with ServerProcess(models_dir, "--max-synthesis-bytes", "100000") as proc:  # type: ignore[arg-type]
        proc.wait_serving()
        with VoxClient(proc.target) as client, pytest.raises(grpc.RpcError) as caught:
            client.synthesize(PARAGRAPH, config())
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "StreamingSynthesize" in caught.value.details()
    assert "100000 bytes" in caught.value.details()


def test_mulaw_stream_decodes(client: VoxClient) -> None:
    chunks = list(client.stream_synthesize("One. Two.", config(encoding=MULAW)))
    audio = mulaw_to_float(b"".join(c.audio_content for c in chunks))
    assert len(chunks) == 2 and float(np.abs(audio).max()) > 0.1
