"""Dead and idle peers on a real server: a stopped client's slot is reaped by keepalive, a stream
of silence ends after the speech-idle timeout (finals first), health Watch streams end at drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import soundfile as sf
import soxr
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.serverproc import ServerProcess, free_port
from tests.test_metrics import scrape, value
from tests.test_streaming_recognize import RATE, pcm16, requests, run, split, streaming_config

SHARED_SPEECH = Path(__file__).resolve().parent.parent.parent / "shared" / "speech"
KEEPALIVE_TIME_S, KEEPALIVE_TIMEOUT_S = 2, 2
SPEECH_IDLE_S = 5
# A client that opens a stream and sends 100 ms of silence every 100 ms, for ever.
CLIENT = """
import sys, time, grpc
from voxserve.v1 import audio_pb2, recognizer_pb2 as pb, recognizer_pb2_grpc as pb_grpc
def messages():
    config = pb.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                  sample_rate_hz=16000)
    yield pb.StreamingRecognizeRequest(streaming_config=pb.StreamingRecognitionConfig(
        config=config))
    while True:
        yield pb.StreamingRecognizeRequest(audio_content=bytes(3200))
        time.sleep(0.1)
with grpc.insecure_channel(sys.argv[1]) as channel:
    for _ in pb_grpc.RecognizerStub(channel).StreamingRecognize(messages()):
        pass
"""


@pytest.fixture(scope="module")
def reaping(models_dir: Path) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    with ServerProcess(models_dir, "--metrics-port", str(port),
                       "--keepalive-time-s", str(KEEPALIVE_TIME_S),
                       "--keepalive-timeout-s", str(KEEPALIVE_TIMEOUT_S),
                       "--speech-idle-timeout-s", str(SPEECH_IDLE_S)) as proc:
        proc.wait_serving()
        yield proc, port


def streams_in_use(metrics_port: int) -> float:
    return value(scrape(metrics_port), "voxserve_admission_in_use", kind="recognition")


def wait_streams(metrics_port: int, count: int, timeout_s: float) -> float:
    """Seconds until `count` recognition slots are in use (raises past `timeout_s`)."""
    started_s = time.monotonic()
    while streams_in_use(metrics_port) != count:
        if time.monotonic() - started_s > timeout_s:
            raise TimeoutError(f"recognition slots never reached {count}")
        time.sleep(0.05)
    return time.monotonic() - started_s


def test_a_stopped_client_frees_its_stream_slot(reaping: tuple[ServerProcess, int]) -> None:
    proc, metrics_port = reaping
    client = subprocess.Popen([sys.executable, "-c", CLIENT, proc.target])
    try:
        wait_streams(metrics_port, 1, timeout_s=30)
        time.sleep(0.5)  # streaming steadily
        os.kill(client.pid, signal.SIGSTOP)  # the process is frozen; its kernel still ACKs TCP
        freed_after_s = wait_streams(metrics_port, 0, timeout_s=60)
    finally:
        client.kill()
        client.wait()
    assert freed_after_s < KEEPALIVE_TIME_S + KEEPALIVE_TIMEOUT_S + 2


def jfk_16k() -> np.ndarray:
    samples, rate_hz = sf.read(SHARED_SPEECH / "jfk.flac", dtype="float32")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return soxr.resample(samples, rate_hz, RATE).astype(np.float32)


def test_speech_then_silence_ends_after_the_speech_idle_timeout_with_finals(
    reaping: tuple[ServerProcess, int]
) -> None:
    proc, _ = reaping
    audio = np.concatenate([jfk_16k(), np.zeros((SPEECH_IDLE_S + 3) * RATE, np.float32)])
    hold_open = threading.Event()  # never half-closes: only the server can end the stream
    try:
        outcome = run(proc.target, requests(streaming_config(), split(pcm16(audio), [100], 32),
                                            hold_open=hold_open))
    finally:
        hold_open.set()
    finals = [r.result for r in outcome.responses if r.HasField("result") and r.result.is_final]
    text = " ".join(f.transcript for f in finals).lower()
    assert "ask not what your country can do for you" in text
    assert outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert outcome.details == (f"no speech for {SPEECH_IDLE_S} s of audio"
                               " (--speech-idle-timeout-s); the stream was ended")


def test_silence_only_stream_ends_after_the_speech_idle_timeout(
    reaping: tuple[ServerProcess, int]
) -> None:
    proc, _ = reaping
    silence = np.zeros((SPEECH_IDLE_S + 2) * RATE, np.float32)
    hold_open = threading.Event()
    try:
        outcome = run(proc.target, requests(streaming_config(), split(pcm16(silence), [100], 32),
                                            hold_open=hold_open))
    finally:
        hold_open.set()
    assert outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert not [r for r in outcome.responses if r.HasField("result")]


def test_health_watch_ends_at_drain(models_dir: Path) -> None:
    # A grace of ten minutes: were the watch to hold shutdown, the exit below would time out.
    with ServerProcess(models_dir, "--grace-s", "600") as proc:
        proc.wait_serving()
        with grpc.insecure_channel(proc.target) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=""))
            first = next(watch)
            proc.process.send_signal(signal.SIGTERM)
            rest = []
            with pytest.raises(grpc.RpcError) as caught:
                for response in watch:
                    rest.append(response.status)
            assert proc.process.wait(timeout=60) == 0
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert rest == [health_pb2.HealthCheckResponse.NOT_SERVING]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
