"""The C++ example clients (client/examples/cpp), built with CMake, on a real server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests import example_clients
from tests.example_clients import Example, check_synthesize, check_transcribe_stream
from tests.serverproc import ServerProcess
from voxserve.client.client import VoxClient

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "client" / "examples" / "cpp"
# The CMake build tree, kept between runs under build/ (ignored by git): rebuilds are incremental.
BUILD = REPO / "build" / "examples-cpp"
# The Debian package of each tool the build needs (the libraries: libgrpc++-dev).
TOOLS = {"cmake": "cmake", "c++": "g++", "protoc": "protobuf-compiler",
         "grpc_cpp_plugin": "protobuf-compiler-grpc"}

client = example_clients.client
speech_wav = example_clients.speech_wav


@pytest.fixture(scope="module")
def binaries() -> Path:
    """The two examples, built as the README says (only they: about a minute on 2 cores)."""
    missing = [package for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the C++ examples need the Debian packages {missing} and libgrpc++-dev")
    for command in (["cmake", "-S", str(EXAMPLES), "-B", str(BUILD)],
                    ["cmake", "--build", str(BUILD), "--parallel", "2"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return BUILD


def test_transcribe_stream_prints_the_python_clients_finals(
    binaries: Path, server: ServerProcess, client: VoxClient, speech_wav: Path
) -> None:
    example = Example((str(binaries / "transcribe_stream"),))
    check_transcribe_stream(example, server, client, speech_wav)


def test_synthesize_writes_the_whole_audio_as_a_wav(
    binaries: Path, server: ServerProcess, client: VoxClient, tmp_path: Path
) -> None:
    check_synthesize(Example((str(binaries / "synthesize"),)), server, client,
                     tmp_path / "spoken.wav")
