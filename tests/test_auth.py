"""API keys: parsing, constant-time matching, the interceptor on a real server, start-up refusal.

The in-process servers here are the real `create_server` on 127.0.0.1:0 with models not loaded
(calls that pass authentication get UNAVAILABLE "models are still loading"), which is all the
interceptor needs; `test_real_server_*` runs the real process on the real models.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.serverproc import ServerProcess
from voxserve.client.client import VoxClient
from voxserve.client.connection import ConnectionOptions
from voxserve.server.app import Server, create_server
from voxserve.server.config import ServerConfig
from voxserve.server.servicers.auth import (
    MISSING_MESSAGE,
    WRONG_MESSAGE,
    ApiKeys,
    load_api_keys,
    read_keys_file,
    token_from,
)
from voxserve.v1 import models_pb2, models_pb2_grpc, recognizer_pb2, recognizer_pb2_grpc

KEY = "vx-test-key-0123456789abcdef"
OTHER_KEY = "vx-second-key"


def test_api_keys_accept_only_the_keys_given() -> None:
    keys = ApiKeys([KEY, OTHER_KEY, KEY])
    assert len(keys) == 2
    assert keys.accepts(KEY) and keys.accepts(OTHER_KEY)
    assert not keys.accepts(KEY[:-1]) and not keys.accepts(KEY + "x") and not keys.accepts("")
    assert KEY not in repr(keys) and repr(keys) == "ApiKeys(2 keys)"


def test_api_keys_need_at_least_one() -> None:
    with pytest.raises(ValueError, match="no API keys"):
        ApiKeys([])


def test_token_from_bearer_or_x_api_key() -> None:
    assert token_from([("authorization", f"Bearer {KEY}")]) == KEY
    assert token_from([("authorization", f"bearer  {KEY} ")]) == KEY
    assert token_from([("x-api-key", KEY)]) == KEY
    assert token_from([("user-agent", "grpc"), ("x-api-key", f" {KEY}")]) == KEY
    assert token_from([("authorization", f"Basic {KEY}")]) is None
    assert token_from([("authorization", "Bearer ")]) is None
    assert token_from([]) is None


def test_keys_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# team A\n{KEY}\n\n  {OTHER_KEY}  \n#{KEY}x\n")
    assert read_keys_file(path) == [KEY, OTHER_KEY]
    config = ServerConfig(api_keys_file=path, api_keys=("env-key",), allow_insecure_tokens=True)
    keys = load_api_keys(config)
    assert keys is not None and len(keys) == 3 and keys.accepts("env-key")
    assert load_api_keys(ServerConfig()) is None


def test_keys_file_errors_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ValueError, match=f"API keys file {empty} holds no keys"):
        read_keys_file(empty)
    with pytest.raises(ValueError, match="cannot read it"):
        read_keys_file(tmp_path / "missing")


def test_config_refuses_tokens_on_plaintext(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TLS is off"):
        ServerConfig(api_keys=(KEY,))
    with pytest.raises(ValueError, match="TLS is off"):
        ServerConfig(api_keys_file=tmp_path / "keys")
    assert ServerConfig(api_keys=(KEY,), allow_insecure_tokens=True).tokens_required
    assert KEY not in repr(ServerConfig(api_keys=(KEY,), allow_insecure_tokens=True))


def test_server_start_refuses_tokens_on_plaintext(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "voxserve.server", "--port", "0", "--models-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "VOXSERVE_API_KEYS": KEY},
    )
    assert result.returncode == 2
    assert "API keys are configured but TLS is off" in result.stderr
    assert "--allow-insecure-tokens" in result.stderr
    assert KEY not in result.stderr and "Traceback" not in result.stderr


def test_server_start_fails_on_an_empty_keys_file(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("\n")
    result = subprocess.run(
        [sys.executable, "-m", "voxserve.server", "--port", "0", "--models-dir", str(tmp_path),
         "--api-keys-file", str(keys), "--allow-insecure-tokens"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert f"API keys file {keys} holds no keys" in result.stderr
    assert "Traceback" not in result.stderr


@asynccontextmanager
async def serving(config: ServerConfig) -> AsyncIterator[Server]:
    """The real server on 127.0.0.1:0 without loading models."""
    server = create_server(config)
    await server.grpc_server.start()
    try:
        yield server
    finally:
        await server.grpc_server.stop(0)


def _config(**overrides: object) -> ServerConfig:
    settings: dict[str, object] = dict(host="127.0.0.1", port=0, api_keys=(KEY,),
                                       allow_insecure_tokens=True)
    return ServerConfig(**{**settings, **overrides})  # type: ignore[arg-type]


async def _list_models(target: str, metadata: tuple[tuple[str, str], ...]) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = models_pb2_grpc.ModelsStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListModels(models_pb2.ListModelsRequest(), metadata=metadata, timeout=5)
    return caught.value


async def test_missing_wrong_and_right_keys() -> None:
    async with serving(_config(api_keys=(KEY, OTHER_KEY))) as server:
        target = f"127.0.0.1:{server.port}"
        missing = await _list_models(target, ())
        wrong = await _list_models(target, (("authorization", f"Bearer {KEY}x"),))
        right = await _list_models(target, (("authorization", f"Bearer {KEY}"),))
        other = await _list_models(target, (("x-api-key", OTHER_KEY),))
    assert (missing.code(), missing.details()) == (grpc.StatusCode.UNAUTHENTICATED, MISSING_MESSAGE)
    assert (wrong.code(), wrong.details()) == (grpc.StatusCode.UNAUTHENTICATED, WRONG_MESSAGE)
    # Past authentication: the call reaches the servicer, which has no models loaded yet.
    for passed in (right, other):
        assert passed.code() == grpc.StatusCode.UNAVAILABLE
        assert passed.details() == "models are still loading; retry shortly"


async def test_health_needs_no_key() -> None:
    async with serving(_config()) as server:
        await server.set_serving(True)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_refused_before_the_audio_is_read() -> None:
    # 1 MiB of audio is past this server's message limit (128 KiB + 64 KiB): a server that read
    # the request would answer RESOURCE_EXHAUSTED; the refusal comes first, without reading it.
    config = _config(max_audio_bytes=128 * 1024, max_message_audio_bytes=64 * 1024)
    request = recognizer_pb2.RecognizeRequest(audio_content=bytes(1024 * 1024))
    async with serving(config) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = recognizer_pb2_grpc.RecognizerStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Recognize(request, timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as too_large:
                await stub.Recognize(request, timeout=5,
                                     metadata=(("authorization", f"Bearer {KEY}"),))
            stream = stub.StreamingRecognize(
                timeout=5, metadata=(("authorization", f"Bearer {KEY}-wrong"),))
            await stream.write(recognizer_pb2.StreamingRecognizeRequest(audio_content=bytes(100)))
            assert await stream.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_real_server_with_keys_file(models_dir: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY}\n")
    with ServerProcess(models_dir, "--api-keys-file", str(keys), "--allow-insecure-tokens") as proc:
        proc.wait_serving()  # health needs no key
        with VoxClient(proc.target) as anonymous:
            with pytest.raises(grpc.RpcError) as caught:
                anonymous.synthesize("Hello.")
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with VoxClient(ConnectionOptions(proc.target, token=KEY)) as client:
            response = client.synthesize("Hello.")
        assert response.voice == "en_US-joe-medium"
        # 16-bit samples at the stated rate: the stated duration is the audio's own
        assert response.audio_duration_ms == round(
            500 * len(response.audio_content) / response.sample_rate_hz)
        proc.terminate()
        assert KEY not in proc.output()
