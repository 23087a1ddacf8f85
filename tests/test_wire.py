"""The request edge on a real server: malformed bytes and oversized messages for every method,
rich error details (BadRequest field violations, RetryInfo) read back with grpcio-status."""

from __future__ import annotations

import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.serverproc import ServerProcess
from voxserve.v1 import synthesizer_pb2, synthesizer_pb2_grpc

# Field 1, length-delimited, announcing 5 bytes of which 2 follow: no protobuf parser accepts it.
TRUNCATED = b"\x0a\x05ab"
UNARY_REQUEST = (
    "/voxserve.v1.Models/ListModels",
    "/voxserve.v1.Synthesizer/Synthesize",
    "/voxserve.v1.Recognizer/Recognize",
    "/grpc.health.v1.Health/Check",
)
SERVER_STREAMING = (
    "/voxserve.v1.Synthesizer/StreamingSynthesize",
    "/grpc.health.v1.Health/Watch",
)
CLIENT_STREAMING = (
    "/voxserve.v1.Recognizer/StreamingRecognize",
    "/voxserve.v1.Synthesizer/StreamingSynthesizeText",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)


def _raw_call(channel: grpc.Channel, method: str, payload: bytes) -> grpc.RpcError:
    """Send `payload` as the request's bytes (no serializer) and return the error it ends with."""
    with pytest.raises(grpc.RpcError) as caught:
        if method in UNARY_REQUEST:
            channel.unary_unary(method)(payload, timeout=30, metadata=(("x-request-id", "bad-1"),))
        elif method in SERVER_STREAMING:
            list(channel.unary_stream(method)(payload, timeout=30,
                                              metadata=(("x-request-id", "bad-1"),)))
        else:
            list(channel.stream_stream(method)(iter([payload]), timeout=30,
                                               metadata=(("x-request-id", "bad-1"),)))
    return caught.value


@pytest.mark.parametrize("method", UNARY_REQUEST + SERVER_STREAMING + CLIENT_STREAMING)
def test_malformed_bytes_are_invalid_argument_with_the_request_id(
    server: ServerProcess, method: str
) -> None:
    with grpc.insecure_channel(server.target) as channel:
        error = _raw_call(channel, method, TRUNCATED)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert error.details().startswith("request bad-1: the message bytes do not parse as ")
    assert ("x-request-id", "bad-1") in error.trailing_metadata()
    service, _, name = method.lstrip("/").partition("/")
    line = f'"service": "{service}", "method": "{name}", "code": "INVALID_ARGUMENT"'
    if not service.startswith("grpc.health"):  # health calls are logged at DEBUG only
        assert _logged(server, line)
    assert "Traceback" not in server.output()


def test_oversized_list_models_is_refused_before_parsing(server: ServerProcess) -> None:
    # A valid ListModelsRequest padded with an unknown field to 64 KiB: parsing would accept it.
    padding = 64 * 1024
    payload = b"\xfa\x3f" + _varint(padding) + b"x" * padding  # field 1023, length-delimited
    with grpc.insecure_channel(server.target) as channel:
        error = _raw_call(channel, "/voxserve.v1.Models/ListModels", payload)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == (f"request bad-1: a /voxserve.v1.Models/ListModels message is "
                               f"{len(payload)} bytes; the limit for this method is 1024 bytes")


def test_config_errors_name_the_field(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        request = synthesizer_pb2.SynthesizeRequest(
            text="Hello.", config=synthesizer_pb2.SynthesisConfig(speaking_rate=9.0))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Synthesize(request, timeout=30)
    status = rpc_status.from_call(caught.value)
    assert status is not None and status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    (detail,) = status.details
    bad_request = error_details_pb2.BadRequest()
    assert detail.Unpack(bad_request)
    (violation,) = bad_request.field_violations
    assert violation.field == "config.speaking_rate"
    assert violation.description == "speaking_rate 9.0 is out of range 0.25..4.0"


def _logged(server: ServerProcess, text: str) -> bool:
    """The request log writes its line as the call ends, a moment after the client has its
    status: look for it a few times."""
    for _ in range(50):
        if text in server.output():
            return True
        time.sleep(0.1)
    return False


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
