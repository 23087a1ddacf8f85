"""Abandoned work stops: long calls past their deadline or cancelled by the client leave no job
running on a real server: its CPU time (from /proc) stays flat and the pool's own metrics say so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.serverproc import ServerProcess, free_port
from tests.speech import sentences, wav_bytes
from tests.test_metrics import scrape, value
from voxserve.v1 import (
    audio_pb2,
    recognizer_pb2,
    recognizer_pb2_grpc,
    synthesizer_pb2,
    synthesizer_pb2_grpc,
)

SHARED_SPEECH = Path(__file__).resolve().parent.parent.parent / "shared" / "speech"
LONG_TEXT = " ".join(sentences() * 8)[:4000]  # a page: many sentences, minutes of speech
CPU_BUDGET_S = 0.5  # the most the server may burn in the 2 s after the calls went away


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="module")
def metered(models_dir: Path) -> Iterator[tuple[ServerProcess, int]]:
    port = free_port()
    with ServerProcess(models_dir, "--metrics-port", str(port)) as proc:
        proc.wait_serving()
        yield proc, port


def two_minutes_of_speech() -> bytes:
    """jfk.flac (real speech, 11 s) repeated to two minutes, as a WAV."""
    import soundfile as sf

    samples, rate_hz = sf.read(SHARED_SPEECH / "jfk.flac", dtype="float32")
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return wav_bytes(np.tile(samples, int(np.ceil(120 * rate_hz / samples.size))), rate_hz)


def test_expired_and_cancelled_long_calls_stop_their_work(
    metered: tuple[ServerProcess, int]
) -> None:
    proc, metrics_port = metered
    mulaw = synthesizer_pb2.SynthesisConfig(encoding=audio_pb2.AUDIO_ENCODING_MULAW,
                                            sample_rate_hz=8000)
    recording = recognizer_pb2.RecognizeRequest(
        config=recognizer_pb2.RecognitionConfig(), audio_content=two_minutes_of_speech())
    stopped_before = value(scrape(metrics_port), "voxserve_inference_jobs_stopped_total",
                           when="running")
    with grpc.insecure_channel(proc.target) as channel:
        synthesizer = synthesizer_pb2_grpc.SynthesizerStub(channel)
        recognizer = recognizer_pb2_grpc.RecognizerStub(channel)
        expiring = [synthesizer.Synthesize.future(
            synthesizer_pb2.SynthesizeRequest(text=LONG_TEXT, config=mulaw), timeout=0.4)
            for _ in range(3)]
        expiring.append(recognizer.Recognize.future(recording, timeout=0.4))
        cancelled = [recognizer.Recognize.future(recording, timeout=120),
                     synthesizer.Synthesize.future(
                         synthesizer_pb2.SynthesizeRequest(text=LONG_TEXT, config=mulaw))]
        time.sleep(0.4)
        for call in cancelled:
            call.cancel()
        for call in expiring:
            assert call.exception(timeout=30).code() == grpc.StatusCode.DEADLINE_EXCEEDED
    start_s = cpu_seconds(proc.process.pid)
    time.sleep(2.0)
    used_s = cpu_seconds(proc.process.pid) - start_s
    samples = scrape(metrics_port)
    print(f"CPU in the 2 s after: {used_s:.2f} s")
    assert used_s < CPU_BUDGET_S, f"{used_s:.2f} CPU s in the 2 s after the calls went away"
    assert value(samples, "voxserve_inference_jobs_running") == 0
    assert value(samples, "voxserve_inference_jobs_queued") == 0
    assert value(samples, "voxserve_admission_in_use", kind="synthesis") == 0
    assert value(samples, "voxserve_admission_in_use", kind="recognition") == 0
    # Work was under way when the calls went, and was stopped rather than run to its end.
    assert value(samples, "voxserve_inference_jobs_stopped_total", when="running") > stopped_before
    # ... and the server serves at once afterwards.
    with grpc.insecure_channel(proc.target) as channel:
        synthesizer = synthesizer_pb2_grpc.SynthesizerStub(channel)
        response = synthesizer.Synthesize(synthesizer_pb2.SynthesizeRequest(text="Ready."),
                                          timeout=30)
    assert response.audio_duration_ms > 300
