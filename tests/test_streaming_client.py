"""The streaming client: sync and async APIs, `voxserve transcribe --stream`, and its display.

The API tests run real calls against the real server and compare with the finals a plain gRPC
stub gets for the same audio in the same messages: decoding is deterministic, so they must be
equal.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import soxr

from tests.serverproc import ServerProcess
from tests.speech import espeak, join, silence, wav_bytes
from tests.wer import wer
from voxserve.client import commands
from voxserve.client.cli import build_parser, main
from voxserve.client.client import VoxClient
from voxserve.client.mic import FileSource
from voxserve.client.streaming import (
    MAX_MESSAGE_AUDIO_BYTES,
    AsyncStreamingRecognizer,
    StreamSettings,
    audio_requests,
)
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

RATE = 16000
CHUNK_BYTES = 3200  # 100 ms of 16 kHz LINEAR16
TEXTS = ("Please call me back when you get this message.",
         "My favorite season of the year is autumn.")
# Measured 1 word in 17 over both texts (tiny.en float32 on CPU, every run): one word of slack
# would hide nothing, so the bound is the measurement.
TEXTS_WER_BOUND = 1 / 17
Final = tuple[int, int, int, str]


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()


SPEECH = join(silence(0.5), espeak(TEXTS[0]), silence(1.0), espeak(TEXTS[1]), silence(0.8))
PCM = pcm16(SPEECH)


def chunks(data: bytes = PCM, size: int = CHUNK_BYTES) -> list[bytes]:
    return [data[at : at + size] for at in range(0, len(data), size)]


def finals(responses: Iterable[recognizer_pb2.StreamingRecognizeResponse]) -> list[Final]:
    return [(r.result.utterance_index, r.result.start_offset_ms, r.result.end_offset_ms,
             r.result.transcript) for r in responses if r.HasField("result") and r.result.is_final]


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[VoxClient]:
    with VoxClient(server.target) as client:
        yield client


@pytest.fixture(scope="module")
def reference(server: ServerProcess) -> list[Final]:
    """SPEECH through a bare stub, in 100 ms messages."""
    config = StreamSettings().message()
    requests = [recognizer_pb2.StreamingRecognizeRequest(streaming_config=config)] + [
        recognizer_pb2.StreamingRecognizeRequest(audio_content=c) for c in chunks()]
    with grpc.insecure_channel(server.target) as channel:
        stub = recognizer_pb2_grpc.RecognizerStub(channel)
        found = finals(stub.StreamingRecognize(iter(requests), timeout=120))
    assert [index for index, *_ in found] == [0, 1]
    assert wer(list(TEXTS), [text for *_, text in found]) <= TEXTS_WER_BOUND
    return found


def test_sync_stream_reads_an_iterable(client: VoxClient, reference: list[Final]) -> None:
    with client.stream(StreamSettings(), audio=chunks(), timeout_s=120) as stream:
        responses = list(stream)
        assert stream.result_code() == grpc.StatusCode.OK
    assert finals(responses) == reference
    with pytest.raises(RuntimeError, match="iterable"):
        stream.send(b"\x00\x00")


def test_sync_stream_fed_with_send_while_reading(client: VoxClient,
                                                 reference: list[Final]) -> None:
    stream = client.stream(StreamSettings(), timeout_s=120)

    def feed() -> None:
        for chunk in chunks():
            stream.send(chunk)
        stream.close()

    feeder = threading.Thread(target=feed)
    with stream:
        feeder.start()
        responses = list(stream)
    feeder.join(timeout=10)
    assert finals(responses) == reference
    with pytest.raises(RuntimeError, match="after close"):
        stream.send(b"\x00\x00")


def test_chunks_past_the_message_limit_are_split(client: VoxClient,
                                                 reference: list[Final]) -> None:
    assert len(PCM) > 3 * MAX_MESSAGE_AUDIO_BYTES
    sizes = [len(r.audio_content) for r in audio_requests(PCM)]
    assert sizes[:-1] == [MAX_MESSAGE_AUDIO_BYTES] * (len(sizes) - 1)
    assert sum(sizes) == len(PCM)
    # 64 KiB messages cut utterances differently from 100 ms ones only in time of arrival.
    with client.stream(StreamSettings(), audio=[PCM], timeout_s=120) as stream:
        assert finals(stream) == reference


def test_cancel_ends_the_call_at_once(client: VoxClient) -> None:
    stream = client.stream(StreamSettings(), timeout_s=120)
    stream.send(PCM[:CHUNK_BYTES])
    stream.cancel()
    with pytest.raises(grpc.RpcError) as caught:
        list(stream)
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    with pytest.raises(RuntimeError, match="ended"):
        for _ in range(100):  # the done callback runs on gRPC's thread
            stream.send(PCM[:CHUNK_BYTES])
            time.sleep(0.01)


def test_server_errors_are_raised(client: VoxClient) -> None:
    config = StreamSettings().message()
    config.config.sample_rate_hz = 0
    with client.stream(config, audio=chunks()[:2], timeout_s=30) as stream:
        with pytest.raises(grpc.RpcError) as caught:
            list(stream)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sample_rate_hz" in (caught.value.details() or "")
    with pytest.raises(ValueError, match="LINEAR16, MULAW or ALAW"):
        StreamSettings(encoding=audio_pb2.AUDIO_ENCODING_UNSPECIFIED)


async def test_async_stream_send_and_close(server: ServerProcess,
                                           reference: list[Final]) -> None:
    async with grpc.aio.insecure_channel(server.target) as channel:
        async with AsyncStreamingRecognizer(channel, StreamSettings(), timeout_s=120) as stream:

            async def feed() -> None:
                for chunk in chunks():
                    await stream.send(chunk)
                await stream.close()

            feeder = asyncio.create_task(feed())
            responses = [response async for response in stream]
            await feeder
            assert await stream.result_code() == grpc.StatusCode.OK
    assert finals(responses) == reference


async def test_async_stream_reads_an_async_iterable(server: ServerProcess,
                                                    reference: list[Final]) -> None:
    async def audio() -> AsyncIterator[bytes]:
        for chunk in chunks():
            yield chunk

    async with grpc.aio.insecure_channel(server.target) as channel:
        stream = AsyncStreamingRecognizer(channel, StreamSettings(), audio=audio(), timeout_s=120)
        async with stream:
            responses = [response async for response in stream]
        with pytest.raises(RuntimeError, match="iterable"):
            await stream.send(b"\x00\x00")
    assert finals(responses) == reference


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxserve.client", "transcribe", *args],
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("pace", [(), ("--realtime",)], ids=["fast", "realtime"])
def test_cli_stream_prints_the_finals(server: ServerProcess, reference: list[Final],
                                      tmp_path: Path, pace: tuple[str, ...]) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(SPEECH))
    done = cli(str(path), "--stream", *pace, "--server", server.target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [text for *_, text in reference]


def test_cli_stream_json_and_raw(server: ServerProcess, reference: list[Final],
                                 tmp_path: Path) -> None:
    path = tmp_path / "speech.raw"
    path.write_bytes(PCM)
    done = cli(str(path), "--stream", "--raw-rate", "16000", "--json", "--server", server.target)
    assert done.returncode == 0, done.stderr
    responses = [json.loads(line) for line in done.stdout.splitlines()]
    got = [(r["result"].get("utterance_index", 0), int(r["result"]["start_offset_ms"]),
            int(r["result"]["end_offset_ms"]), r["result"]["transcript"])
           for r in responses if r.get("result", {}).get("is_final")]
    assert got == reference
    events = [r["speech_event"]["type"] for r in responses if "speech_event" in r]
    assert events == ["SPEECH_EVENT_TYPE_SPEECH_STARTED", "SPEECH_EVENT_TYPE_SPEECH_ENDED"] * 2


def test_cli_streams_a_stereo_44k_wav(server: ServerProcess, tmp_path: Path) -> None:
    mono = soxr.resample(SPEECH, RATE, 44100)
    path = tmp_path / "stereo.wav"
    path.write_bytes(wav_bytes(np.stack([mono, mono * 0.8], axis=1), 44100, channels=2))
    done = cli(str(path), "--stream", "--chunk-ms", "40", "--server", server.target)
    assert done.returncode == 0, done.stderr
    assert wer(list(TEXTS), done.stdout.splitlines()) <= TEXTS_WER_BOUND, done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mic", "x.wav"], "--mic streams the microphone"),
        (["--mic", "--stream"], "--mic streams the microphone"),
        (["x.wav", "--realtime"], "--realtime paces a streamed file: add --stream"),
        (["--stream"], "--stream needs a FILE"),
        (["{tmp}/eight-bit.wav", "--stream"], "16-bit PCM, not 8-bit"),
        (["{tmp}/not.wav", "--stream"], "--stream reads 16-bit PCM WAV files"),
    ],
    ids=["mic-and-file", "mic-and-stream", "realtime-alone", "no-file", "8-bit", "not-wav"],
)
def test_cli_live_option_errors(args: list[str], message: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    import wave

    with wave.open(str(tmp_path / "eight-bit.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(bytes(800))
    (tmp_path / "not.wav").write_bytes(b"not a wav file at all, sorry")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # Checked before connecting: nothing listens on port 9.
    assert main(["transcribe", *argv, "--server", "127.0.0.1:9"]) == 1
    assert message in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def response(text: str, is_final: bool) -> recognizer_pb2.StreamingRecognizeResponse:
    return recognizer_pb2.StreamingRecognizeResponse(
        result=recognizer_pb2.StreamingRecognitionResult(transcript=text, is_final=is_final))


EVENT = recognizer_pb2.StreamingRecognizeResponse(speech_event=recognizer_pb2.SpeechEvent(
    type=recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED))
SCRIPT = [EVENT, response("Please", False), response("Please call me", False),
          response("Please call me back.", True), EVENT, response("My favorite", False),
          response("", True), response("My", False)]


def test_display_on_a_terminal_redraws_interims_in_place(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "12")
    out = Terminal()
    display = commands.LiveDisplay(out)
    assert display.shows_interims
    for message in SCRIPT:
        display.show(message)
    display.close()
    erase = "\r\x1b[K"
    assert out.getvalue() == (
        "Please" + erase + "\u2026se call me" + erase + "Please call me back.\n"
        + "My favorite" + erase + "My" + erase
    )


def test_display_elsewhere_prints_finals_only() -> None:
    out = io.StringIO()
    display = commands.LiveDisplay(out)
    assert not display.shows_interims
    for message in SCRIPT:
        display.show(message)
    display.close()
    assert out.getvalue() == "Please call me back.\n"


def test_file_source_chunks_and_pacing() -> None:
    pcm = bytes(range(256)) * 125  # 32000 bytes: 1 s of 16 kHz mono
    source = FileSource(pcm, 16000, chunk_ms=300)
    parts = list(source.chunks())
    assert [len(p) for p in parts] == [9600, 9600, 9600, 3200] and b"".join(parts) == pcm
    stereo = FileSource(pcm, 8000, channels=2, chunk_ms=100)
    assert [len(p) for p in stereo.chunks()] == [3200] * 10
    paced = FileSource(pcm[:16000], 16000, chunk_ms=100, realtime=True)
    started_s = time.monotonic()
    assert b"".join(paced.chunks()) == pcm[:16000]
    assert time.monotonic() - started_s >= 0.5  # each chunk waits until it would be heard
    stopped = FileSource(pcm, 16000, chunk_ms=100)
    read = []
    for chunk in stopped.chunks():
        read.append(chunk)
        stopped.stop()
    assert read == [pcm[:3200]]
    with pytest.raises(ValueError, match="whole frames"):
        FileSource(pcm[:3], 16000)


def test_stream_options_make_a_paced_file_source(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    path.write_bytes(wav_bytes(SPEECH))
    args = build_parser().parse_args(["transcribe", str(path), "--stream", "--realtime",
                                      "--chunk-ms", "20"])
    source = commands.live_source(args)
    assert isinstance(source, FileSource)
    assert (source.pcm16, source.sample_rate_hz, source.channels) == (PCM, RATE, 1)
    assert (source.chunk_bytes, source.realtime) == (640, True)


def test_finalize_ends_the_open_utterance_while_the_stream_stays_open(client: VoxClient) -> None:
    stream = client.stream(StreamSettings(), timeout_s=120)
    speech = pcm16(join(silence(0.5), espeak(TEXTS[0])))  # no silence after: no endpoint

    def feed() -> None:
        for chunk in chunks(speech):
            stream.send(chunk)
        stream.finalize()

    feeder = threading.Thread(target=feed)
    with stream:
        feeder.start()
        for response in stream:
            if response.HasField("result") and response.result.is_final:
                break  # came while the stream is still open: finalize ended the utterance
        feeder.join(timeout=10)
        stream.close()
        rest = list(stream)
        assert stream.result_code() == grpc.StatusCode.OK
    assert wer([TEXTS[0]], [response.result.transcript]) <= TEXTS_WER_BOUND
    assert not finals(rest)  # nothing left to flush at half-close
