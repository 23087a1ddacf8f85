"""Classifier.ClassifyLanguage, and multilingual Recognize / StreamingRecognize, over gRPC against
a real server holding tiny.en and multilingual Whisper base, on real human speech."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from bench.asterisk import Prompt, load_16k, prompts, spread
from tests.serverproc import ServerProcess
from tests.speech import silence, wav_bytes
from tests.test_asr_language import MULTILINGUAL_MP3
from voxserve.client.client import VoxClient
from voxserve.client.streaming import StreamSettings
from voxserve.v1 import classifier_pb2, models_pb2, recognizer_pb2

BASE = "whisper-base"
CHUNK_BYTES = 3200  # 100 ms of 16 kHz LINEAR16


@pytest.fixture(scope="module")
def client(multilingual_server: ServerProcess) -> Iterator[VoxClient]:
    with VoxClient(multilingual_server.target) as client:
        yield client


def prompt(language: str, name: str) -> Prompt:
    return next(p for p in prompts(language) if p.name == name)


def classify(client: VoxClient, audio: bytes, **config: object
             ) -> classifier_pb2.ClassifyLanguageResponse:
    settings = classifier_pb2.LanguageClassificationConfig(**config)  # type: ignore[arg-type]
    return client.classify_language(audio, settings)


def test_the_multilingual_model_is_listed_beside_the_english_default(client: VoxClient) -> None:
    models = {m.name: m for m in client.list_models(models_pb2.MODEL_KIND_RECOGNIZER)}
    assert set(models) == {BASE, "whisper-tiny.en"}
    assert models["whisper-tiny.en"].is_default and not models[BASE].is_default
    assert len(models[BASE].language_codes) == 99
    assert {"de", "es", "fr"} <= set(models[BASE].language_codes)


@pytest.mark.parametrize("language", ["fr", "es"])
def test_prompts_are_classified_with_sorted_probabilities(client: VoxClient,
                                                          language: str) -> None:
    for item in spread(prompts(language), 3, min_words=4):
        response = classify(client, item.path.read_bytes())  # 8 kHz WAV, as installed
        assert response.model == BASE
        assert len(response.languages) == 5  # the default max_results
        assert response.languages[0].language_code == language, item.name
        probabilities = [entry.probability for entry in response.languages]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 < sum(probabilities) <= 1.0 + 1e-6
        assert response.start_offset_ms == 0
        assert response.end_offset_ms == pytest.approx(response.audio_duration_ms, abs=20)


def test_candidates_and_max_results(client: VoxClient) -> None:
    audio = prompt("fr", "check-number-dial-again").path.read_bytes()
    restricted = classify(client, audio, language_codes=["en-US", "ES"], max_results=10)
    assert {e.language_code for e in restricted.languages} == {"en", "es"}
    assert sum(e.probability for e in restricted.languages) == pytest.approx(1.0, abs=1e-5)
    regional = classify(client, audio, language_codes=["fr-CA", "de-DE", "es-MX"])
    assert regional.languages[0].language_code == "fr"
    assert len(classify(client, audio, max_results=1).languages) == 1
    assert len(classify(client, audio, max_results=200).languages) == 99


def test_silence_has_no_language(client: VoxClient) -> None:
    response = classify(client, wav_bytes(silence(2.0)))
    assert list(response.languages) == []
    assert (response.audio_duration_ms, response.end_offset_ms) == (2000, 0)


def violated_field(error: grpc.RpcError) -> str:
    """The field path of the google.rpc.BadRequest detail an INVALID_ARGUMENT carries."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    (detail,) = status.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    (violation,) = bad_request.field_violations
    return str(violation.field)


@pytest.mark.parametrize(("config", "message", "field"), [
    ({"language_codes": ["fr", "xx"]}, "does not know language 'xx'", "config.language_codes"),
    ({"language_codes": ["fr", "no tag"]}, "is not a BCP-47 language tag",
     "config.language_codes"),
    ({"max_results": 0}, "max_results must be 1 to 200, not 0", "config.max_results"),
    ({"model": "whisper-tiny.en"}, "is English-only and cannot identify languages",
     "config.model"),
])
def test_bad_configs_are_invalid_argument(client: VoxClient, config: dict[str, object],
                                          message: str, field: str) -> None:
    audio = prompt("es", "agent-pass").path.read_bytes()
    with pytest.raises(grpc.RpcError) as caught:
        classify(client, audio, **config)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    assert violated_field(caught.value) == field


def test_recognize_detects_restricts_and_translates(client: VoxClient) -> None:
    audio = prompt("fr", "check-number-dial-again").path.read_bytes()
    english = client.recognize(audio)  # no model, no language: the English default
    assert (english.model, english.language_code) == ("whisper-tiny.en", "en")
    detected = client.recognize(audio, recognizer_pb2.RecognitionConfig(model=BASE))
    assert (detected.model, detected.language_code) == (BASE, "fr")
    assert 0.5 < detected.language_probability <= 1.0
    assert all(r.language_code == "fr" for r in detected.results)
    assert "numéro" in detected.transcript
    # Naming a language the default does not know reaches the model that knows it.
    forced = client.recognize(audio, recognizer_pb2.RecognitionConfig(language_code="FR-ca"))
    assert (forced.model, forced.language_code, forced.language_probability) == (BASE, "fr", 1.0)
    restricted = client.recognize(audio, recognizer_pb2.RecognitionConfig(
        language_codes=["en", "de"]))
    assert restricted.model == BASE and restricted.language_code in {"en", "de"}
    translated = client.recognize(audio, recognizer_pb2.RecognitionConfig(
        model=BASE, translate_to_english=True))
    assert translated.language_code == "fr"
    assert "number" in translated.transcript.lower()


@pytest.mark.parametrize(("config", "message", "field"), [
    ({"model": "whisper-tiny.en", "translate_to_english": True}, "English-only and cannot",
     "config.translate_to_english"),
    ({"model": "whisper-tiny.en", "language_codes": ["fr"]}, "recognises only en",
     "config.language_codes"),
    ({"language_code": "fr", "language_codes": ["fr"]}, "exclude each other",
     "config.language_codes"),
    ({"model": BASE, "language_codes": ["klingon"]}, "does not know language 'klingon'",
     "config.language_codes"),
])
def test_bad_language_options_are_invalid_argument(client: VoxClient,
                                                   config: dict[str, object],
                                                   message: str, field: str) -> None:
    audio = prompt("es", "agent-pass").path.read_bytes()
    with pytest.raises(grpc.RpcError) as caught:
        client.recognize(audio, recognizer_pb2.RecognitionConfig(**config))  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    assert violated_field(caught.value) == field


def pcm16_chunks(audio: np.ndarray) -> Iterator[bytes]:
    data = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start:start + CHUNK_BYTES]


def finals(client: VoxClient, audio: np.ndarray, **settings: object
           ) -> list[recognizer_pb2.StreamingRecognitionResult]:
    config = StreamSettings(sample_rate_hz=16000, **settings)  # type: ignore[arg-type]
    with client.stream(config, audio=pcm16_chunks(audio), timeout_s=300) as stream:
        return [r.result for r in stream if r.HasField("result") and r.result.is_final]


def test_the_language_changes_inside_a_stream(client: VoxClient) -> None:
    results = [r for r in finals(client, load_16k(MULTILINGUAL_MP3), model=BASE)
               if r.transcript]
    english = [r.language_code for r in results if r.end_offset_ms <= 26_000]
    german = [r.language_code for r in results if r.start_offset_ms >= 31_000]
    assert english and set(english) == {"en"}, [(r.language_code, r.transcript) for r in results]
    assert german and set(german) == {"de"}, [(r.language_code, r.transcript) for r in results]
    assert all(0.5 < r.language_probability <= 1.0 for r in results)


def test_a_stream_translates_and_reports_the_spoken_language(client: VoxClient) -> None:
    audio = np.concatenate([silence(0.5), prompt("fr", "check-number-dial-again").audio(),
                            silence(1.0)])
    (result,) = finals(client, audio, translate_to_english=True, language_codes=("fr", "en"))
    assert result.language_code == "fr"
    assert "number" in result.transcript.lower()


def test_cli_classify_prints_the_ranking(multilingual_server: ServerProcess) -> None:
    path = prompt("es", "agent-alreadyon").path
    command = [sys.executable, "-m", "voxserve.client", "classify", str(path), "--top", "3",
               "--server", multilingual_server.target]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert len(lines) == 3 and lines[0][0] == "es"
    probabilities = [float(p) for _, p in lines]
    assert probabilities == sorted(probabilities, reverse=True)
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)
    assert json.loads(as_json.stdout)["languages"][0]["language_code"] == "es"
