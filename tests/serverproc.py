"""ServerProcess: a real `voxserve serve` process on 127.0.0.1, bound to port 0, for tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# The server's start-up line names the port it bound (app.py: "listening on HOST:PORT ...").
_LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) ")


def free_port() -> int:
    """A port free now, for listeners that cannot bind port 0 themselves (nginx, the metrics
    endpoint, where 0 means off); another process may take it before they bind it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """Starts the server as users do (`python -m voxserve.server`) on port 0, reads the port it
    bound from its log, waits for SERVING."""

    def __init__(self, models_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self._port: int | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="voxserve-", suffix=".log", delete=False)
        command = [sys.executable, "-m", "voxserve.server", "--host", "127.0.0.1",
                   "--port", "0", "--models-dir", str(models_dir),
                   "--inference-workers", "2", "--intra-op-threads", "1", *args]
        self.process = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    @property
    def port(self) -> int:
        """The port the server bound; waits for its start-up line (the server binds before it
        loads models, so this comes within seconds)."""
        if self._port is None:
            self._port = self._wait_port(timeout_s=60.0)
        return self._port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _wait_port(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.output())
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"server exited with {code} before binding:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"server bound no port after {timeout_s} s:\n{self.output()}")

    def health(self, service: str = "", timeout_s: float = 2.0) -> int:
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service=service)
            return stub.Check(request, timeout=timeout_s).status

    def wait_serving(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        self._port = self._port or self._wait_port(timeout_s)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"server exited with {code}:\n{self.output()}")
            try:
                if self.health() == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not SERVING after {timeout_s} s:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
