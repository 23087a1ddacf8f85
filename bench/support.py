"""What the benchmarks share: the sentence set, espeak-ng speech, WER, and a real server process.

bench/ imports nothing from tests/: the sentence file is read as data, and the WER is
bench/scoring.py's (Whisper's English normaliser, then the package's word edits).
"""

from __future__ import annotations

import functools
import io
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from pathlib import Path

import grpc
import numpy as np
import soxr
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench import scoring

REPO = Path(__file__).resolve().parent.parent
SENTENCES_FILE = REPO / "tests" / "data" / "sentences.txt"
RATE_HZ = 16000  # whisper's input rate; the recordings are made at it
# app.py logs this once the port is bound ("listening on HOST:PORT (...)").
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) ")


def sentences() -> list[str]:
    return SENTENCES_FILE.read_text().strip().splitlines()


@functools.cache
def espeak(text: str, voice: str = "en-us", words_per_minute: int = 160) -> np.ndarray:
    """`text` spoken by espeak-ng, float32 mono at 16 kHz."""
    data = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute), text],
        check=True, capture_output=True,
    ).stdout
    # espeak-ng --stdout writes 0xFFFFFFFF sizes since it cannot seek back: fix them up.
    if data[4:8] == b"\xff\xff\xff\xff":
        data = data[:4] + (len(data) - 8).to_bytes(4, "little") + data[8:40] + \
            (len(data) - 44).to_bytes(4, "little") + data[44:]
    with wave.open(io.BytesIO(data)) as wav:
        frames, rate = wav.readframes(wav.getnframes()), wav.getframerate()
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return soxr.resample(samples, rate, RATE_HZ).astype(np.float32)


def wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word error rate after Whisper's English normaliser (bench/scoring.py)."""
    return scoring.wer(list(references), list(hypotheses))


class ServerProcess:
    """`python -m voxserve.server` on 127.0.0.1 port 0; the bound port is read from its log.
    Two inference workers of one thread each unless `args` say otherwise (later flags win), or,
    with `sized`, the counts the server sizes from its cores (no thread flags)."""

    def __init__(self, models_dir: Path, *args: str, sized: bool = False) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="voxserve-bench-", suffix=".log",
                                               delete=False)
        threads = [] if sized else ["--inference-workers", "2", "--intra-op-threads", "1"]
        command = [sys.executable, "-m", "voxserve.server", "--host", "127.0.0.1", "--port", "0",
                   "--models-dir", str(models_dir), *threads, *args]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ))
        self._target = ""

    @property
    def target(self) -> str:
        """host:port of the server, once it has bound its port (binding precedes model loads)."""
        deadline = time.monotonic() + 60.0
        while not self._target and time.monotonic() < deadline:
            if found := _LISTENING.search(self.output()):
                self._target = f"127.0.0.1:{found.group(1)}"
            elif self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n"
                                   f"{self.output()}")
            else:
                time.sleep(0.05)
        if not self._target:
            raise TimeoutError(f"server bound no port:\n{self.output()}")
        return self._target

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_serving(self, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n"
                                   f"{self.output()}")
            if self._serving():
                return
            time.sleep(0.1)
        raise TimeoutError(f"server not SERVING after {timeout_s} s:\n{self.output()}")

    def _serving(self) -> bool:
        with grpc.insecure_channel(self.target) as channel:
            request = health_pb2.HealthCheckRequest(service="")
            try:
                stub = health_pb2_grpc.HealthStub(channel)
                # types-grpcio-health-checking's HealthStub lists no methods (grpc sets them in
                # __init__), so Check is unknown to mypy
                status = stub.Check(request, timeout=2.0).status  # type: ignore[attr-defined]
            except grpc.RpcError:
                return False
        return bool(status == health_pb2.HealthCheckResponse.SERVING)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
