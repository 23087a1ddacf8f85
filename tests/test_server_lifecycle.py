"""The server process: health, reflection, model listing, drain on SIGTERM, start-up errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.serverproc import ServerProcess
from voxserve.client.client import VoxClient
from voxserve.v1 import models_pb2

SERVICES = {"voxserve.v1.Recognizer", "voxserve.v1.Synthesizer", "voxserve.v1.Models",
            "voxserve.v1.Classifier"}


def test_health_serving_overall_and_per_service(server: ServerProcess) -> None:
    for service in ("", *sorted(SERVICES)):
        assert server.health(service) == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (response,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {service.name for service in response.list_services_response.service}
    assert SERVICES | {"grpc.health.v1.Health"} <= names


def test_list_models_shows_the_defaults(server: ServerProcess) -> None:
    with VoxClient(server.target) as client:
        models = client.list_models()
        voices = client.list_models(models_pb2.MODEL_KIND_VOICE)
    by_name = {m.name: m for m in models}
    whisper = by_name["whisper-tiny.en"]
    assert (whisper.kind, whisper.family, list(whisper.language_codes)) == (
        models_pb2.MODEL_KIND_RECOGNIZER, "whisper", ["en"])
    assert whisper.sample_rate_hz == 16000 and whisper.is_default
    assert whisper.execution_provider == "CPUExecutionProvider"
    joe = by_name["en_US-joe-medium"]
    assert (joe.kind, joe.family) == (models_pb2.MODEL_KIND_VOICE, "piper")
    assert joe.sample_rate_hz == 22050
    assert [m.name for m in voices] == ["en_US-joe-medium"]


def test_sigterm_drains_and_exits_zero(models_dir: Path) -> None:
    with ServerProcess(models_dir, "--grace-s", "5") as proc:
        proc.wait_serving()
        assert proc.terminate() == 0
        assert "draining" in proc.output() and "stopped" in proc.output()


def test_silero_as_the_default_detector_loads_before_serving(models_dir: Path) -> None:
    with ServerProcess(models_dir, "--vad", "silero") as proc:
        proc.wait_serving()
        output = proc.output()
        assert output.index("loaded Silero VAD from") < output.index("serving 1 recognizer(s)")


def test_unknown_model_is_not_found(server: ServerProcess) -> None:
    from voxserve.v1 import recognizer_pb2

    with VoxClient(server.target) as client:
        config = recognizer_pb2.RecognitionConfig(model="nope")
        try:
            client.recognize(b"RIFF", config)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.NOT_FOUND
            assert "unknown recognizer model 'nope'" in exc.details()
            assert "whisper-tiny.en" in exc.details()
        else:
            raise AssertionError("expected NOT_FOUND")


def test_empty_repository_fails_start_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voxserve.server", "--port", "0", "--models-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert f"no models in {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flag_value_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voxserve.server", "--vad-aggressiveness", "7"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "vad_aggressiveness must be 0 to 3, not 7" in result.stderr


def test_env_variables_configure_the_server() -> None:
    from voxserve.server.__main__ import config_from

    config, level = config_from(["--port", "7"], {"VOXSERVE_PORT": "9", "VOXSERVE_GRACE_S": "2.5",
                                                  "VOXSERVE_LOG_LEVEL": "debug"})
    assert (config.port, config.grace_s, level) == (7, 2.5, "debug")
