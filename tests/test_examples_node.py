"""The Node.js example clients (client/examples/node), installed with npm ci, on a real server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests import example_clients
from tests.example_clients import Example, check_synthesize, check_transcribe_stream
from tests.serverproc import ServerProcess
from voxserve.client.client import VoxClient

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "client" / "examples" / "node"
# npm ci's output, kept between runs under build/ (ignored by git); redone when the lock changes.
CACHE = REPO / "build" / "examples-node"

client = example_clients.client
speech_wav = example_clients.speech_wav


@pytest.fixture(scope="module")
def node_modules() -> Path:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            pytest.fail(f"`{tool}` not found: the Node.js examples need Node.js 18+ with npm")
    lock = (EXAMPLES / "package-lock.json").read_bytes()
    stamp = CACHE / "installed-package-lock.json"
    if not (stamp.is_file() and stamp.read_bytes() == lock):
        CACHE.mkdir(parents=True, exist_ok=True)
        stamp.unlink(missing_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(EXAMPLES / name, CACHE / name)
        npm = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CACHE,
                             capture_output=True, text=True, timeout=300)
        assert npm.returncode == 0, f"npm ci failed:\n{npm.stdout}\n{npm.stderr}"
        stamp.write_bytes(lock)
    return CACHE / "node_modules"


def node_example(node_modules: Path, script: str) -> Example:
    """An example run as a user would, with `node`."""
    return Example(("node", str(EXAMPLES / script)),
                   {**os.environ, "NODE_PATH": str(node_modules)})


def test_transcribe_stream_prints_the_python_clients_finals(
    node_modules: Path, server: ServerProcess, client: VoxClient, speech_wav: Path
) -> None:
    example = node_example(node_modules, "transcribe_stream.js")
    check_transcribe_stream(example, server, client, speech_wav)


def test_synthesize_writes_the_whole_audio_as_a_wav(
    node_modules: Path, server: ServerProcess, client: VoxClient, tmp_path: Path
) -> None:
    check_synthesize(node_example(node_modules, "synthesize.js"), server, client,
                     tmp_path / "spoken.wav")


def test_transcribe_stream_resumes_on_another_replica_at_drain(
    node_modules: Path, models_dir: Path, client: VoxClient, speech_wav: Path
) -> None:
    """SIGTERM to the replica after the first final: the example resumes on the second address
    as docs/clients.md says, and prints the finals an undisturbed stream gets."""
    expected = example_clients.python_stream_finals(client, speech_wav)
    example = node_example(node_modules, "transcribe_stream.js")
    with ServerProcess(models_dir, "--grace-s", "20") as first:
        first.wait_serving()
        targets = f"{first.target},{client.options.targets[0]}"
        node = subprocess.Popen([*example.argv, str(speech_wav), targets], env=example.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert node.stdout is not None
        lines = []
        for line in node.stdout:  # paced like a microphone: the first final comes mid-file
            lines.append(line)
            if line.startswith("final"):
                first.process.send_signal(signal.SIGTERM)
                break
        out, err = node.communicate(timeout=120)
        assert node.returncode == 0, err
        assert first.process.wait(timeout=60) == 0
    output = "".join(lines) + out
    assert "resuming: server is shutting down" in output
    printed = example_clients.printed_finals(output)
    assert [(index, text) for index, _, _, text in printed] == [
        (index, text) for index, _, _, text in expected]
    for (_, start, _, _), (_, want_start, _, _) in zip(printed, expected, strict=True):
        assert abs(start - want_start) < 400
