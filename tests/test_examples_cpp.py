"""The C++ example clients (client/examples/cpp), built with CMake, on a real server."""

from __future__ import annotations

import re
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess
from voxserve.client.client import LINEAR16, VoxClient
from voxserve.v1 import recognizer_pb2

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "client" / "examples" / "cpp"
# The CMake build tree, kept between runs under build/ (ignored by git): rebuilds are incremental.
BUILD = REPO / "build" / "examples-cpp"
# The Debian package of each tool the build needs (the libraries: libgrpc++-dev).
TOOLS = {"cmake": "cmake", "c++": "g++", "protoc": "protobuf-compiler",
         "grpc_cpp_plugin": "protobuf-compiler-grpc"}
SENTENCES = ("The quick brown fox jumps over the lazy dog.",
             "Please call me back when you get this message.")
SPOKEN = "Our meeting has been moved to Thursday afternoon."
# What transcribe_stream prints for a final result: "final   #0 [120-2980 ms]: text".
FINAL = re.compile(r"^final +#(\d+) \[(\d+)-(\d+) ms\]: (.*)$", re.MULTILINE)
INTERIM = re.compile(r"^interim #(\d+) \[(\d+)-(\d+) ms\]: (.*)$", re.MULTILINE)
# What synthesize prints: "hello.wav: 2754 ms at 22050 Hz, voice en_US-joe-medium".
SYNTHESIZED = re.compile(r"(?P<path>.+): (?P<duration_ms>\d+) ms at (?P<rate_hz>\d+) Hz, "
                         r"voice (?P<voice>\S+)")
CHUNK_MS = 100
# Piper draws phoneme durations at random (noise_w 0.8), so two calls differ in length: SPOKEN
# measured 2650-2859 ms over 30 calls (sigma 48 ms). 12% (330 ms) is about 5 sigma of the difference
# of two calls and still catches a wrong rate or sample width, or a lost sentence.
SPREAD = 0.12


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


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[VoxClient]:
    with VoxClient(server.target) as client:
        yield client


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sentences 1.5 s apart, as espeak-ng writes them: 16-bit mono at 22050 Hz."""
    path = tmp_path_factory.mktemp("speech") / "two_sentences.wav"
    ssml = f'<speak>{SENTENCES[0]}<break time="1500ms"/>{SENTENCES[1]}</speak>'
    subprocess.run(["espeak-ng", "-m", "-w", str(path), ssml], check=True)
    return path


def run_example(binaries: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binaries / name), *args], capture_output=True, text=True,
                          timeout=120)


def stdout_of(done: subprocess.CompletedProcess[str]) -> str:
    """The example's output, once it is known to have succeeded."""
    assert done.returncode == 0, (
        f"{' '.join(done.args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="module")
def streamed(binaries: Path, server: ServerProcess, speech_wav: Path
             ) -> subprocess.CompletedProcess[str]:
    """transcribe_stream run once on the two sentences; the tests check what it printed."""
    return run_example(binaries, "transcribe_stream", str(speech_wav), server.target)


def printed_finals(output: str) -> list[tuple[int, int, int, str]]:
    return [(int(index), int(start), int(end), text)
            for index, start, end, text in FINAL.findall(output)]


def python_stream_finals(client: VoxClient, wav_path: Path) -> list[tuple[int, int, int, str]]:
    """The same stream sent from Python: same config, same 100 ms chunks."""
    with wave.open(str(wav_path)) as wav:
        rate_hz, channels = wav.getframerate(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    config = recognizer_pb2.StreamingRecognitionConfig(
        config=recognizer_pb2.RecognitionConfig(
            encoding=LINEAR16, sample_rate_hz=rate_hz, audio_channel_count=channels),
        interim_results=True,
    )
    chunk_bytes = rate_hz * CHUNK_MS // 1000 * channels * 2
    requests = [recognizer_pb2.StreamingRecognizeRequest(streaming_config=config)] + [
        recognizer_pb2.StreamingRecognizeRequest(audio_content=pcm[at:at + chunk_bytes])
        for at in range(0, len(pcm), chunk_bytes)
    ]
    responses = client.recognizer.StreamingRecognize(
        iter(requests), timeout=120, metadata=client.options.metadata())
    return [(r.result.utterance_index, r.result.start_offset_ms, r.result.end_offset_ms,
             r.result.transcript) for r in responses if r.HasField("result") and r.result.is_final]


def test_transcribe_stream_prints_the_python_clients_finals(
    streamed: subprocess.CompletedProcess[str], client: VoxClient, speech_wav: Path
) -> None:
    output = stdout_of(streamed)
    finals = printed_finals(output)
    assert [index for index, *_ in finals] == [0, 1], output
    assert finals == python_stream_finals(client, speech_wav), output
    # Whether interims come depends on decoding speed (the server drops stale ones): those
    # printed must lie inside their utterance.
    spans = {index: (start, end) for index, start, end, _ in finals}
    for index, start, end, _ in INTERIM.findall(output):
        final_start, final_end = spans[int(index)]
        assert final_start == int(start) <= int(end) <= final_end, output


def test_synthesize_writes_the_whole_audio_as_a_wav(
    binaries: Path, server: ServerProcess, client: VoxClient, tmp_path: Path
) -> None:
    path = tmp_path / "spoken.wav"
    output = stdout_of(run_example(binaries, "synthesize", SPOKEN, str(path), server.target))
    reported = SYNTHESIZED.fullmatch(output.strip())
    assert reported is not None, output
    expected = client.synthesize(SPOKEN, timeout_s=120)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        assert wav.getframerate() == expected.sample_rate_hz == int(reported["rate_hz"])
        duration_ms = 1000 * wav.getnframes() / wav.getframerate()
    assert reported["path"] == str(path) and reported["voice"] == expected.voice
    assert abs(duration_ms - int(reported["duration_ms"])) <= 1  # the server rounds to 1 ms
    assert abs(duration_ms - expected.audio_duration_ms) <= SPREAD * expected.audio_duration_ms
