"""Admission under overload on a real server: capacity + N calls at once -> exactly N refused
with RESOURCE_EXHAUSTED, the rest complete, health answers throughout, clients retry."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from tests.serverproc import ServerProcess
from tests.speech import espeak, wav_bytes
from tests.wer import normalise
from voxserve.client.client import VoxClient
from voxserve.client.retry import RetryPolicy, is_retryable
from voxserve.client.streaming import StreamingRecognizer, StreamSettings
from voxserve.v1 import recognizer_pb2, synthesizer_pb2, synthesizer_pb2_grpc

CAPACITY = 2
EXTRA = 3
# About three seconds of speech: each accepted call keeps its slot far longer than it takes all
# the calls to arrive (milliseconds), so which calls are refused does not depend on timing.
TEXT = "Admission control refuses the excess at once, and the rest run to the end."


@pytest.fixture(scope="module")
def small_server(models_dir: Path) -> Iterator[ServerProcess]:
    with ServerProcess(models_dir, "--max-synthesis-calls", str(CAPACITY),
                       "--max-streams", str(CAPACITY)) as proc:
        proc.wait_serving()
        yield proc


def test_synthesis_past_capacity_is_refused_at_once(small_server: ServerProcess) -> None:
    with grpc.insecure_channel(small_server.target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        request = synthesizer_pb2.SynthesizeRequest(text=TEXT)
        calls = [stub.Synthesize.future(request, timeout=120) for _ in range(CAPACITY + EXTRA)]
        # Health answers while the accepted calls run.
        assert small_server.health() == health_pb2.HealthCheckResponse.SERVING
        refused = [call for call in calls if call.exception(timeout=120) is not None]
        done = [call.result() for call in calls if call.exception() is None]
    assert len(refused) == EXTRA
    for call in refused:
        assert call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert call.details() == ("server is at capacity: 2 concurrent synthesis calls; retry "
                                  "later or on another replica")
        assert call.initial_metadata() == ()  # refused before any response headers
        assert is_retryable(call.exception())
        assert ("voxserve-retryable", "true") in call.trailing_metadata()
        # the standard hints too: gRPC's retry pushback and google.rpc.RetryInfo
        assert ("grpc-retry-pushback-ms", "1000") in call.trailing_metadata()
        (detail,) = rpc_status.from_call(call).details
        retry_info = error_details_pb2.RetryInfo()
        assert detail.Unpack(retry_info) and retry_info.retry_delay.ToMilliseconds() == 1000
    assert len(done) == CAPACITY and all(r.audio_duration_ms > 2000 for r in done)
    assert small_server.health() == health_pb2.HealthCheckResponse.SERVING


def test_clients_retry_refused_calls(small_server: ServerProcess) -> None:
    policy = RetryPolicy(max_attempts=20, initial_backoff_s=0.2, max_backoff_s=1.0)

    def synthesize(_: int) -> int:
        with VoxClient(small_server.target, policy) as client:
            return client.synthesize(TEXT, timeout_s=120).audio_duration_ms

    refusals_before = small_server.output().count('"code": "RESOURCE_EXHAUSTED"')
    with concurrent.futures.ThreadPoolExecutor(CAPACITY + EXTRA) as pool:
        durations = list(pool.map(synthesize, range(CAPACITY + EXTRA)))
    # Every call got through in the end, the refused ones on a later attempt.
    assert len(durations) == CAPACITY + EXTRA and all(d > 2000 for d in durations)
    refusals = small_server.output().count('"code": "RESOURCE_EXHAUSTED"') - refusals_before
    assert refusals >= EXTRA


class StreamOutcome:
    """A stream read to its end on a thread: its responses and final status."""

    def __init__(self, stream: StreamingRecognizer) -> None:
        self.stream = stream
        self.responses: list[recognizer_pb2.StreamingRecognizeResponse] = []
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            self.responses.extend(self.stream)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            self.code, self.details = exc.code(), exc.details()
        self.ended.set()

    def finals(self) -> list[str]:
        return [r.result.transcript for r in self.responses
                if r.HasField("result") and r.result.is_final]


def test_streams_past_capacity_are_refused_and_the_rest_complete(
        small_server: ServerProcess) -> None:
    text = "Please call me back when you get this message."
    speech = wav_bytes(espeak(text))[44:]  # 16 kHz LINEAR16 without the WAV header
    with VoxClient(small_server.target, RetryPolicy(max_attempts=1)) as client:
        outcomes = [StreamOutcome(StreamingRecognizer(client.recognizer, StreamSettings(),
                                                      timeout_s=120))
                    for _ in range(CAPACITY + EXTRA)]
        # Accepted streams stay open until they are closed, so exactly EXTRA end, refused.
        deadline = time.monotonic() + 30
        while sum(o.ended.is_set() for o in outcomes) < EXTRA and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = [o for o in outcomes if o.ended.is_set()]
        accepted = [o for o in outcomes if not o.ended.is_set()]
        assert small_server.health() == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as recognize:  # Recognize shares the cap
            client.recognize(wav_bytes(espeak(text)))
        for outcome in accepted:
            outcome.stream.send(speech)
            outcome.stream.close()
        for outcome in accepted:
            assert outcome.ended.wait(timeout=120)
    assert len(refused) == EXTRA and len(accepted) == CAPACITY
    for outcome in refused:
        assert outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert outcome.details == ("server is at capacity: 2 concurrent recognition calls; "
                                   "retry later or on another replica")
        assert outcome.responses == []
    assert recognize.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for outcome in accepted:
        assert outcome.code == grpc.StatusCode.OK
        assert [normalise(t) for t in outcome.finals()] == [normalise(text)]
    assert small_server.health() == health_pb2.HealthCheckResponse.SERVING
