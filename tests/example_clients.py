"""What every example client (client/examples/*) must do on a real server, whatever its language.

Each test module builds its examples its own way and says how to start one (an `Example`); the
checks here run it and compare what it printed or wrote with the Python client on the same
server. The fixtures `client` and `speech_wav` are shared: a module binds them by name
(`client = example_clients.client`) so that pytest finds them there.
"""

from __future__ import annotations

import re
import subprocess
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess
from voxserve.client.client import LINEAR16, VoxClient
from voxserve.v1 import recognizer_pb2

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


@dataclass(frozen=True)
class Example:
    """How to start one example client: its command line and, if it needs one, environment."""

    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None

    def run(self, *args: str) -> str:
        """The example's output, once it is known to have succeeded."""
        done = subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=120,
                              env=self.env)
        assert done.returncode == 0, (
            f"{' '.join(done.args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout


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


def check_transcribe_stream(
    example: Example, server: ServerProcess, client: VoxClient, speech_wav: Path
) -> None:
    """transcribe_stream prints the finals the Python client gets, and interims inside them."""
    output = example.run(str(speech_wav), server.target)
    finals = printed_finals(output)
    assert [index for index, *_ in finals] == [0, 1], output
    assert finals == python_stream_finals(client, speech_wav), output
    # Whether interims come depends on decoding speed (the server drops stale ones): those
    # printed must lie inside their utterance.
    spans = {index: (start, end) for index, start, end, _ in finals}
    for index, start, end, _ in INTERIM.findall(output):
        final_start, final_end = spans[int(index)]
        assert final_start == int(start) <= int(end) <= final_end, output


def check_synthesize(
    example: Example, server: ServerProcess, client: VoxClient, path: Path
) -> None:
    """synthesize writes the whole audio to `path` as a 16-bit mono WAV and reports it."""
    output = example.run(SPOKEN, str(path), server.target)
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
