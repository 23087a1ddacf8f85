"""Graceful drain of a real server process: SIGTERM -> NOT_SERVING at once, new calls refused,
open streams finish, exit 0; a stream longer than the grace is cut and the process still exits."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.serverproc import ServerProcess
from voxserve.client.client import VoxClient
from voxserve.client.retry import RetryPolicy
from voxserve.v1 import synthesizer_pb2

SENTENCES = 5
LONG_TEXT = " ".join(f"This is sentence number {n} of the answer." for n in range(SENTENCES))
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_sigterm_drains(models_dir: Path) -> None:
    with ServerProcess(models_dir, "--grace-s", "30") as proc:
        proc.wait_serving()
        with grpc.insecure_channel(proc.target) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service="voxserve.v1.Recognizer"), timeout=120)
            assert next(watch).status == SERVING
            with VoxClient(proc.target, RetryPolicy(max_attempts=1)) as client:
                stream = client.stream_synthesize(LONG_TEXT)
                first = next(stream)
                proc.process.send_signal(signal.SIGTERM)
                assert next(watch).status == NOT_SERVING  # at once, while the stream runs
                watch.cancel()
                rest = list(stream)
            with VoxClient(proc.target, RetryPolicy(max_attempts=1)) as late:
                with pytest.raises(grpc.RpcError) as refused:
                    late.synthesize("Too late.")
        assert [first.sentence_index] + [r.sentence_index for r in rest] == list(range(SENTENCES))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert proc.process.wait(timeout=60) == 0


def test_streams_longer_than_the_grace_are_cut(models_dir: Path) -> None:
    endless = " ".join(f"Sentence {n} of a very long reading." for n in range(400))
    with ServerProcess(models_dir, "--grace-s", "1") as proc:
        proc.wait_serving()
        with VoxClient(proc.target) as client:
            stream = client.synthesizer.StreamingSynthesize(
                synthesizer_pb2.StreamingSynthesizeRequest(text=endless), timeout=120)
            next(stream)
            proc.process.send_signal(signal.SIGTERM)
            received = 1
            try:
                for _ in stream:
                    received += 1
            except grpc.RpcError:
                pass
        assert stream.code() != grpc.StatusCode.OK and received < 400
        assert proc.process.wait(timeout=30) == 0
        assert "stopped" in proc.output()
