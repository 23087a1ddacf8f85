"""Request log: request ids taken or made, echoed in response metadata, one JSON line per RPC."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from voxserve.server.app import Server, create_server
from voxserve.server.config import ServerConfig
from voxserve.server.servicers.requestlog import (
    JsonFormatter,
    RequestIdFilter,
    current_request_id,
    request_id_from,
    split_method,
)
from voxserve.v1 import models_pb2, models_pb2_grpc

REPLICA = "replica-under-test"
KEY = "vx-request-log-key"


@asynccontextmanager
async def serving(**overrides: object) -> AsyncIterator[Server]:
    """The real server on 127.0.0.1:0, health SERVING, models not loaded."""
    settings: dict[str, object] = dict(host="127.0.0.1", port=0, replica_id=REPLICA)
    server = create_server(ServerConfig(**{**settings, **overrides}))  # type: ignore[arg-type]
    await server.grpc_server.start()
    await server.set_serving(True)
    try:
        yield server
    finally:
        await server.grpc_server.stop(0)


def rpc_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "voxserve.requests"]


def test_request_ids_from_metadata_or_new() -> None:
    assert request_id_from([("x-request-id", "abc-123_x.y:z")]) == "abc-123_x.y:z"
    made = request_id_from([])
    assert re.fullmatch(r"[0-9a-f]{32}", made), made  # a uuid4's hex
    assert request_id_from([("x-request-id", "two words")]) != "two words"
    assert len(request_id_from([("x-request-id", "a" * 129)])) == 32
    assert request_id_from([("x-request-id", "line\nbreak")]) != "line\nbreak"
    assert split_method("/voxserve.v1.Recognizer/Recognize") == ("voxserve.v1.Recognizer",
                                                                  "Recognize")
    assert current_request_id() == "-"


async def test_refused_call_echoes_the_id_in_trailers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voxserve.requests")
    async with serving() as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            call = models_pb2_grpc.ModelsStub(channel).ListModels(
                models_pb2.ListModelsRequest(), metadata=(("x-request-id", "req-42"),), timeout=5)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
    trailers = dict(caught.value.trailing_metadata())
    assert trailers["x-request-id"] == "req-42"
    assert trailers["x-voxserve-replica"] == REPLICA
    (line,) = rpc_lines(caplog)
    assert {k: line[k] for k in ("request_id", "service", "method", "code", "replica",
                                 "responses", "details")} == {
        "request_id": "req-42", "service": "voxserve.v1.Models", "method": "ListModels",
        "code": "UNAVAILABLE", "replica": REPLICA, "responses": 0,
        "details": "models are still loading; retry shortly"}
    assert isinstance(line["duration_ms"], float) and str(line["peer"]).startswith("ipv4:127.0.0.1")


async def test_answered_calls_echo_the_id_in_headers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voxserve.requests")
    async with serving() as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                              timeout=5)
            assert (await check).status == health_pb2.HealthCheckResponse.SERVING
            headers = dict(await check.initial_metadata())
            stream = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                metadata=(("x-request-id", "stream-7"),), timeout=5)
            responses = [response async for response in stream]
            stream_headers = dict(await stream.initial_metadata())
    assert len(responses) == 1
    assert len(headers["x-request-id"]) == 32 and headers["x-voxserve-replica"] == REPLICA
    assert stream_headers["x-request-id"] == "stream-7"
    health_line, stream_line = rpc_lines(caplog)
    assert (health_line["method"], health_line["code"], health_line["responses"]) == (
        "Check", "OK", 1)
    assert health_line["request_id"] == headers["x-request-id"]
    assert (stream_line["method"], stream_line["code"], stream_line["responses"]) == (
        "ServerReflectionInfo", "OK", 1)
    assert "first_response_ms" in stream_line and "details" not in stream_line


async def test_health_is_logged_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voxserve.requests")
    async with serving() as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                            timeout=5)
    assert rpc_lines(caplog) == []


async def test_keys_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving(api_keys=(KEY,), allow_insecure_tokens=True) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = models_pb2_grpc.ModelsStub(channel)
            for token in (KEY, KEY + "-wrong"):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.ListModels(models_pb2.ListModelsRequest(), timeout=5,
                                          metadata=(("authorization", f"Bearer {token}"),))
    codes = [line["code"] for line in rpc_lines(caplog)]
    assert codes == ["UNAVAILABLE", "UNAUTHENTICATED"]
    assert KEY not in caplog.text


def test_json_formatter_puts_rpc_fields_at_the_top() -> None:
    formatter, stamp = JsonFormatter(), RequestIdFilter()
    rpc = logging.LogRecord("voxserve.requests", logging.INFO, __file__, 1, "%s", ("{}",), None)
    rpc.rpc = {"request_id": "r1", "method": "Recognize", "code": "OK"}
    stamp.filter(rpc)
    entry = json.loads(formatter.format(rpc))
    assert {k: entry[k] for k in ("level", "logger", "message", "request_id", "method",
                                  "code")} == {
        "level": "INFO", "logger": "voxserve.requests", "message": "rpc finished",
        "request_id": "r1", "method": "Recognize", "code": "OK"}
    plain = logging.LogRecord("voxserve", logging.WARNING, __file__, 1, "loaded %d", (2,), None)
    stamp.filter(plain)
    entry = json.loads(formatter.format(plain))
    assert (entry["message"], entry["request_id"], entry["level"]) == ("loaded 2", "-", "WARNING")


async def test_replica_defaults_to_hostname_and_bound_port() -> None:
    async with serving(replica_id="") as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                              timeout=5)
            await check
            trailers = dict(await check.trailing_metadata())
    assert trailers["x-voxserve-replica"] == f"{socket.gethostname()}:{server.port}"
    assert server.replica == trailers["x-voxserve-replica"]
