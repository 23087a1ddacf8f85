"""PeerProcess: a peer runner (bench/peers/*.py) in .bench-venv, spoken to in JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
BENCH_VENV = Path(os.environ.get("BENCH_VENV", REPO / ".bench-venv"))


def peer_python() -> Path:
    """The bench venv's interpreter; a clear error when bench/setup_peers.sh has not run."""
    python = BENCH_VENV / "bin" / "python"
    if not python.is_file():
        raise SystemExit(f"{python} is missing: run bench/setup_peers.sh first")
    return python


class PeerProcess:
    """One long-lived runner: loads its model once, then answers one request per line."""

    def __init__(self, runner: str, *args: str) -> None:
        self.name = runner
        self.process = subprocess.Popen(
            [str(peer_python()), str(PEERS / runner), *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            # stderr is inherited: a peer's traceback shows up in the terminal.
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        ready = self._read()
        if not ready.get("ready"):
            raise RuntimeError(f"{runner} did not start: {ready}")
        self.load_s = float(ready["load_s"])

    def request(self, **fields: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(fields) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise RuntimeError(f"peer {self.name} exited with {code} (see its stderr above)")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
