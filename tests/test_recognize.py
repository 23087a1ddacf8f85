"""Recognize over gRPC against a real server on the real tiny.en model."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import soxr

from tests.serverproc import ServerProcess
from tests.speech import espeak, join, noise, sentences, silence, wav_bytes
from tests.wer import wer
from voxserve.client.client import VoxClient
from voxserve.v1 import audio_pb2, recognizer_pb2

# tiny.en on espeak-ng's robotic voice: we measure 0.086-0.108 on the sentence set, and
# faster-whisper on the same weights makes the same kind of mistakes (0.097: "round-fark jump",
# "whenever today"); see docs/benchmarks.md. The bound leaves room for small variations.
WER_BOUND = 0.15
# Sentences both engines transcribe exactly from espeak-ng audio: format tests assert them exactly.
CLEAN = (1, 4, 6, 8)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> VoxClient:
    with VoxClient(server.target) as client:
        yield client


def test_known_sentences_have_low_wer(client: VoxClient) -> None:
    refs = sentences()
    hyps = [client.recognize(wav_bytes(espeak(text))).transcript for text in refs]
    assert wer(refs, hyps) <= WER_BOUND, list(zip(refs, hyps, strict=True))


def test_segments_and_word_offsets(client: VoxClient) -> None:
    text = sentences()[CLEAN[0]]
    audio = join(silence(1.0), espeak(text), silence(0.5))
    config = recognizer_pb2.RecognitionConfig(enable_word_time_offsets=True)
    response = client.recognize(wav_bytes(audio), config)
    assert response.model == "whisper-tiny.en" and response.language_code == "en"
    assert response.audio_duration_ms == round(len(audio) / 16)
    words = [w for r in response.results for w in r.words]
    assert len(words) == len(text.split())
    starts = [w.start_offset_ms for w in words]
    assert starts == sorted(starts)
    assert 700 <= words[0].start_offset_ms <= 1600  # speech starts at 1.0 s
    assert words[-1].end_offset_ms <= response.audio_duration_ms
    assert all(w.end_offset_ms >= w.start_offset_ms for w in words)


def test_silence_and_noise_give_empty_text(client: VoxClient) -> None:
    assert client.recognize(wav_bytes(silence(3.0))).transcript == ""
    assert client.recognize(wav_bytes(noise(3.0, rms=0.05))).transcript == ""


def test_48k_stereo_wav(client: VoxClient) -> None:
    text = sentences()[CLEAN[2]]
    mono = soxr.resample(espeak(text), 16000, 48000)
    stereo = np.stack([mono, mono * 0.5], axis=1)
    response = client.recognize(wav_bytes(stereo, 48000, channels=2))
    assert wer([text], [response.transcript]) == 0.0, response.transcript


def test_raw_linear16_and_mulaw(client: VoxClient) -> None:
    from voxserve.server.audio.codecs import float_to_mulaw

    text = sentences()[CLEAN[3]]
    speech = espeak(text)
    pcm = (speech * 32767).astype("<i2").tobytes()
    config = recognizer_pb2.RecognitionConfig(
        encoding=audio_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000)
    assert wer([text], [client.recognize(pcm, config).transcript]) == 0.0
    config = recognizer_pb2.RecognitionConfig(
        encoding=audio_pb2.AUDIO_ENCODING_MULAW, sample_rate_hz=8000)
    ulaw = float_to_mulaw(soxr.resample(speech, 16000, 8000))
    # Telephone band (8 kHz mu-law) loses everything above 4 kHz (we measure 2 words in 12).
    assert wer([text], [client.recognize(ulaw, config).transcript]) <= 2 / 12


def test_long_recording_is_not_truncated(client: VoxClient) -> None:
    refs = sentences()
    audio = join(*[join(espeak(t), silence(1.5)) for t in refs])  # ~45 s
    response = client.recognize(wav_bytes(audio))
    assert len(audio) / 16000 > 35
    assert wer([" ".join(refs)], [response.transcript]) <= WER_BOUND
    ends = [r.end_offset_ms for r in response.results]
    assert ends == sorted(ends) and ends[-1] > 30_000


@pytest.mark.parametrize(
    ("audio", "config", "message"),
    [
        (b"", None, "empty"),
        (wav_bytes(silence(1.0))[:30], None, "WAV header is truncated or corrupt"),
        (b"hello world, not audio at all", None, "must be a recording in a known format"),
        (wav_bytes(silence(1.0)), recognizer_pb2.RecognitionConfig(sample_rate_hz=0),
         "config.sample_rate_hz must be 8000 to 48000, not 0"),
        (wav_bytes(silence(1.0)), recognizer_pb2.RecognitionConfig(encoding=99),
         "config.encoding 99 is unknown"),
        (b"\x00\x01\x02", recognizer_pb2.RecognitionConfig(
            encoding=audio_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000), "even byte count"),
        (b"\x00\x00" * 100, recognizer_pb2.RecognitionConfig(
            encoding=audio_pb2.AUDIO_ENCODING_LINEAR16), "sample_rate_hz"),
    ],
    ids=["empty", "truncated-header", "not-audio", "explicit-zero-rate", "unknown-encoding",
         "odd-bytes", "no-rate"],
)
def test_bad_audio_is_invalid_argument(
    client: VoxClient, audio: bytes, config: recognizer_pb2.RecognitionConfig | None, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.recognize(audio, config)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message.lower() in caught.value.details().lower()
    assert "Traceback" not in caught.value.details()


def test_wrong_language_for_english_model(client: VoxClient) -> None:
    config = recognizer_pb2.RecognitionConfig(language_code="de")
    with pytest.raises(grpc.RpcError) as caught:
        client.recognize(wav_bytes(espeak("hello there")), config)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "en" in caught.value.details()


def test_int8_on_cpu_by_default_and_float32_on_request(models_dir: object) -> None:
    """On CPU the server runs the int8 graphs the default export also writes; `--model-variant
    float32` runs the float32 ones."""
    from voxserve.server.asr.types import TranscribeOptions
    from voxserve.server.repository import (
        default_variant,
        load_repository,
        read_manifest,
        with_variant,
    )
    from voxserve.server.runtime import RuntimeOptions

    manifest = read_manifest(models_dir / "whisper-tiny.en")  # type: ignore[operator]
    assert with_variant(manifest, "int8")["variant"] == "int8"
    assert "variant" not in with_variant(manifest, "fp16")  # not exported: float32 stays
    cpu = RuntimeOptions(device="cpu")
    assert default_variant("", cpu) == "int8"
    assert default_variant("float32", cpu) == "float32"
    text = sentences()[CLEAN[1]]
    for variant, served in (("", "int8"), ("float32", "float32")):
        repository = load_repository(models_dir, cpu, variant=variant)  # type: ignore[arg-type]
        recognizer = repository.recognizer("whisper-tiny.en")
        assert recognizer.info.variant == served
        audio = espeak(text)
        assert wer([text], [recognizer.transcribe(audio, TranscribeOptions()).text]) == 0.0
