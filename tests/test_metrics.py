"""Prometheus metrics: the recording API, and the HTTP endpoint scraped and parsed after traffic."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from tests.serverproc import ServerProcess, free_port
from tests.speech import espeak, wav_bytes
from tests.wer import normalise
from voxserve.client.client import VoxClient
from voxserve.client.streaming import StreamingRecognizer, StreamSettings
from voxserve.server import metrics
from voxserve.server.admission import Admission
from voxserve.server.app import Server, create_server
from voxserve.server.config import ServerConfig
from voxserve.server.errors import Overloaded
from voxserve.v1 import models_pb2, models_pb2_grpc, recognizer_pb2

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SENTENCE = "Please call me back when you get this message."  # tiny.en hears it word for word


def scrape(port: int) -> Samples:
    """GET /metrics and parse it as Prometheus does."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_observations_land_in_their_histograms() -> None:
    before = (sample("voxserve_final_latency_seconds_count"),
              sample("voxserve_final_latency_seconds_bucket", le="0.3"),
              sample("voxserve_real_time_factor_count", kind="recognition"),
              sample("voxserve_real_time_factor_sum", kind="recognition"),
              sample("voxserve_queue_wait_seconds_count"))
    metrics.observe_final_latency(0.25)
    metrics.observe_real_time_factor("recognition", processing_s=0.5, audio_s=2.0)
    metrics.observe_real_time_factor("recognition", processing_s=0.5, audio_s=0.0)  # ignored
    metrics.observe_queue_wait(0.002)
    metrics.set_model_load_time("test-model", 1.5)
    after = (sample("voxserve_final_latency_seconds_count"),
             sample("voxserve_final_latency_seconds_bucket", le="0.3"),
             sample("voxserve_real_time_factor_count", kind="recognition"),
             sample("voxserve_real_time_factor_sum", kind="recognition"),
             sample("voxserve_queue_wait_seconds_count"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 0.25, 1]
    assert sample("voxserve_model_load_seconds", model="test-model") == 1.5


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        metrics.observe_real_time_factor("dictation", 1.0, 1.0)  # type: ignore[arg-type]


def test_admission_reports_slots_and_refusals() -> None:
    refused = sample("voxserve_admission_refused_total", kind="synthesis")
    admission = Admission("synthesis", 2)
    assert sample("voxserve_admission_capacity", kind="synthesis") == 2
    with admission.slot(), admission.slot():
        assert sample("voxserve_admission_in_use", kind="synthesis") == 2
        with pytest.raises(Overloaded, match="at capacity: 2 concurrent synthesis calls"):
            with admission.slot():
                pass
    assert sample("voxserve_admission_in_use", kind="synthesis") == 0
    assert sample("voxserve_admission_refused_total", kind="synthesis") - refused == 1


@asynccontextmanager
async def serving_with_metrics() -> AsyncIterator[tuple[Server, int]]:
    """The real server on 127.0.0.1:0 without models, and the metrics endpoint on a free port."""
    server = create_server(ServerConfig(host="127.0.0.1", port=0))
    await server.grpc_server.start()
    await server.set_serving(True)
    endpoint = metrics.serve_metrics("127.0.0.1", 0)
    try:
        yield server, endpoint.port
    finally:
        endpoint.close()
        await server.grpc_server.stop(0)


async def test_rpcs_are_counted_by_method_and_code() -> None:
    async with serving_with_metrics() as (server, port):
        before = await asyncio.to_thread(scrape, port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            models = models_pb2_grpc.ModelsStub(channel)
            for _ in range(2):
                with pytest.raises(grpc.aio.AioRpcError):
                    await models.ListModels(models_pb2.ListModelsRequest(), timeout=5)
            health = health_pb2_grpc.HealthStub(channel)
            await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
            unknown = channel.unary_unary("/voxserve.v1.Models/Nope")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await unknown(b"", timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
        after = await asyncio.to_thread(scrape, port)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    models_labels = dict(service="voxserve.v1.Models", method="ListModels")
    health_labels = dict(service="grpc.health.v1.Health", method="Check")
    assert delta("voxserve_rpcs_total", code="UNAVAILABLE", **models_labels) == 2
    assert delta("voxserve_rpcs_total", code="OK", **health_labels) == 1
    assert delta("voxserve_rpc_duration_seconds_count", **models_labels) == 2
    assert value(after, "voxserve_active_rpcs", **models_labels) == 0
    assert not any("Nope" in str(labels) for _, labels in after)  # unknown methods: no labels


def test_metrics_after_real_traffic(models_dir: Path) -> None:
    port = free_port()
    with ServerProcess(models_dir, "--metrics-port", str(port), "--max-streams", "3") as proc:
        proc.wait_serving()
        with VoxClient(proc.target) as client:
            spoken = client.synthesize("Metrics are counted.")
            chunks = list(client.stream_synthesize("One sentence. Another sentence."))
            wav = wav_bytes(espeak(SENTENCE))
            transcript = client.recognize(wav).transcript
            with pytest.raises(grpc.RpcError):
                client.recognize(wav, recognizer_pb2.RecognitionConfig(model="nope"))
            with StreamingRecognizer(client.recognizer, StreamSettings(),
                                     audio=[wav[44:]], timeout_s=60) as stream:
                streamed = [r.result.transcript for r in stream if r.result.is_final]
        samples = scrape(port)
    assert spoken.audio_duration_ms > 0 and len(chunks) == 2
    assert normalise(transcript) == normalise(SENTENCE)
    assert [normalise(text) for text in streamed] == [normalise(SENTENCE)]

    def rpcs(service: str, method: str, code: str) -> float:
        return value(samples, "voxserve_rpcs_total", service=service, method=method, code=code)

    assert rpcs("voxserve.v1.Synthesizer", "Synthesize", "OK") == 1
    assert rpcs("voxserve.v1.Synthesizer", "StreamingSynthesize", "OK") == 1
    assert rpcs("voxserve.v1.Recognizer", "Recognize", "OK") == 1
    assert rpcs("voxserve.v1.Recognizer", "Recognize", "NOT_FOUND") == 1
    assert rpcs("voxserve.v1.Recognizer", "StreamingRecognize", "OK") == 1
    assert value(samples, "voxserve_final_latency_seconds_count") == 1  # one utterance
    assert value(samples, "voxserve_real_time_factor_count", kind="recognition") >= 1
    first_chunk = dict(service="voxserve.v1.Synthesizer", method="StreamingSynthesize")
    assert value(samples, "voxserve_time_to_first_response_seconds_count", **first_chunk) == 1
    assert value(samples, "voxserve_time_to_first_response_seconds_sum", **first_chunk) > 0
    for model in ("whisper-tiny.en", "en_US-joe-medium"):
        assert value(samples, "voxserve_model_load_seconds", model=model) > 0
    assert value(samples, "voxserve_admission_capacity", kind="recognition") == 3
    assert value(samples, "voxserve_admission_capacity", kind="synthesis") == 16
    assert value(samples, "voxserve_admission_in_use", kind="recognition") == 0
    assert value(samples, "voxserve_active_rpcs", service="voxserve.v1.Recognizer",
                 method="Recognize") == 0
    assert value(samples, "voxserve_draining") == 0
    assert value(samples, "process_resident_memory_bytes") > 0

