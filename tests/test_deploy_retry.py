"""Client retries: refused calls go again on the next replica over a fresh connection.

Two real in-process servers on 127.0.0.1:0: one still loading its models (answers UNAVAILABLE,
as a replica that is starting or draining does) and one holding an empty model repository.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest

from voxserve.client.client import Connection, VoxClient
from voxserve.client.connection import ConnectionOptions
from voxserve.client.retry import OVERLOADED_PREFIX, Replicas, RetryPolicy, is_retryable
from voxserve.server.admission import Admission
from voxserve.server.app import Server, create_server
from voxserve.server.config import ServerConfig
from voxserve.server.errors import Overloaded
from voxserve.server.repository import ModelRepository
from voxserve.v1 import models_pb2, models_pb2_grpc, recognizer_pb2


@asynccontextmanager
async def serving(loaded: bool, **overrides: object) -> AsyncIterator[Server]:
    settings: dict[str, object] = dict(host="127.0.0.1", port=0)
    server = create_server(ServerConfig(**{**settings, **overrides}))  # type: ignore[arg-type]
    if loaded:
        server.state.set_repository(ModelRepository())
    await server.grpc_server.start()
    try:
        yield server
    finally:
        await server.grpc_server.stop(0)


def test_policy_backoff_stays_under_its_caps() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=0.3, backoff_multiplier=2.0)
    for retry, cap in ((1, 0.1), (2, 0.2), (3, 0.3), (9, 0.3)):
        assert all(0 <= policy.backoff_s(retry) <= cap for _ in range(50))
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="initial_backoff_s <= max_backoff_s"):
        RetryPolicy(initial_backoff_s=2.0, max_backoff_s=1.0)


def test_admission_refusals_match_the_client_prefix() -> None:
    admission = Admission("recognition", 1)
    with admission.slot(), pytest.raises(Overloaded) as caught, admission.slot():
        pass
    assert str(caught.value).startswith(OVERLOADED_PREFIX)


def test_replicas_rotate_and_reconnect() -> None:
    opened: list[str] = []
    closed: list[str] = []

    def connect(target: str) -> str:
        opened.append(target)
        return f"{target}{len(opened)}"

    replicas: Replicas[str] = Replicas(["a", "b"], connect, closed.append)
    first = replicas.lease()
    assert (first.target, first.connection) == ("a", "a1")
    assert replicas.lease().connection == "a1"  # reused while it works
    replicas.failed(first)
    replicas.failed(first)  # a second failure of the same lease changes nothing more
    second = replicas.lease()
    assert (second.target, second.connection) == ("b", "b2")
    replicas.failed(second)
    assert replicas.lease().connection == "a3"  # back to a, over a fresh connection
    replicas.close()
    assert opened == ["a", "b", "a"] and sorted(closed) == ["a1", "a3", "b2"]


async def test_unavailable_replica_is_skipped() -> None:
    async with serving(loaded=False) as loading, serving(loaded=True) as ready:
        options = ConnectionOptions(f"127.0.0.1:{loading.port}",
                                    fallback_targets=(f"127.0.0.1:{ready.port}",))

        def list_models() -> tuple[list[models_pb2.ModelInfo], str]:
            with VoxClient(options, RetryPolicy(initial_backoff_s=0.01)) as client:
                return client.list_models(), client.connection.target

        models, target = await asyncio.to_thread(list_models)
    assert models == [] and target == f"127.0.0.1:{ready.port}"


async def test_without_retries_the_refusal_surfaces() -> None:
    async with serving(loaded=False) as loading:

        def list_models() -> grpc.RpcError:
            with VoxClient(f"127.0.0.1:{loading.port}", RetryPolicy(max_attempts=1)) as client:
                with pytest.raises(grpc.RpcError) as caught:
                    client.list_models()
                return caught.value

        error = await asyncio.to_thread(list_models)
    assert error.code() == grpc.StatusCode.UNAVAILABLE and is_retryable(error)


async def test_request_limits_and_auth_are_not_retried() -> None:
    config = dict(max_audio_bytes=1024, max_message_audio_bytes=1024, api_keys=("k",),
                  allow_insecure_tokens=True)
    async with serving(loaded=True, **config) as server:

        def attempts(options: ConnectionOptions, audio: bytes) -> tuple[int, grpc.RpcError]:
            tries = []
            with VoxClient(options, RetryPolicy(initial_backoff_s=0.01)) as client:

                def attempt(connection: Connection, timeout_s: float | None) -> object:
                    tries.append(connection.target)
                    request = recognizer_pb2.RecognizeRequest(audio_content=audio)
                    return connection.recognizer.Recognize(request, timeout=timeout_s,
                                                           metadata=options.metadata())

                with pytest.raises(grpc.RpcError) as caught:
                    client.call(attempt, timeout_s=10)
            return len(tries), caught.value

        target = f"127.0.0.1:{server.port}"
        too_large = await asyncio.to_thread(
            attempts, ConnectionOptions(target, token="k"), bytes(200_000))
        anonymous = await asyncio.to_thread(attempts, ConnectionOptions(target), b"")
    assert too_large[0] == 1 and too_large[1].code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert not is_retryable(too_large[1])
    assert anonymous[0] == 1 and anonymous[1].code() == grpc.StatusCode.UNAUTHENTICATED


async def test_asyncio_errors_are_judged_the_same() -> None:
    async with serving(loaded=False) as loading:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{loading.port}") as channel:
            stub = models_pb2_grpc.ModelsStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ListModels(models_pb2.ListModelsRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and is_retryable(caught.value)
