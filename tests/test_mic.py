"""The microphone path: Microphone over an input device, and `voxserve transcribe --mic` end to end.

CI has no microphone, so a RecordedDevice - the same InputDevice interface PortAudio's stream is
wrapped in - plays known speech at real time; everything above it is the code `--mic` runs.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time

import numpy as np
import pytest

from tests.serverproc import ServerProcess
from tests.speech import espeak, join, silence
from tests.wer import wer
from voxserve.client import commands
from voxserve.client.cli import build_parser
from voxserve.client.mic import FileSource, Microphone, RecordedDevice, SoundDevice

RATE = 16000
TEXTS = ("I would like to book a table for two at seven.",
         "Can you send me the report before the end of the day?")


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()


def ramp(seconds: float) -> bytes:
    """Distinct 16-bit samples, so any lost, repeated or reordered block shows."""
    return np.arange(int(seconds * RATE), dtype="<i2").tobytes()


def test_microphone_delivers_the_device_blocks_in_order() -> None:
    pcm = ramp(0.5)
    device = RecordedDevice(pcm, speed=20)
    mic = Microphone(device, sample_rate_hz=RATE, chunk_ms=50)
    got: list[bytes] = []
    for chunk in mic.chunks():
        got.append(chunk)
        if sum(map(len, got)) >= len(pcm) + 3200:  # the recording, then 100 ms of silence
            mic.stop()
    assert {len(chunk) for chunk in got} == {1600}  # 50 ms of 16-bit samples
    heard = b"".join(got)
    assert heard[: len(pcm)] == pcm and not any(heard[len(pcm) :])
    assert mic.dropped_chunks == 0
    assert len(device.streams) == 1 and device.streams[0].closed


def test_a_stalled_reader_drops_new_blocks_instead_of_blocking_the_device() -> None:
    pcm = ramp(2.0)
    device = RecordedDevice(pcm, speed=50)
    mic = Microphone(device, sample_rate_hz=RATE, chunk_ms=20, max_queued_chunks=3)
    blocks = mic.chunks()
    first = next(blocks)
    time.sleep(0.3)  # the device goes on delivering (at 50x) while nobody reads
    mic.stop()
    rest = list(blocks)
    assert first + b"".join(rest) == pcm[: 4 * 640]  # the oldest blocks, in order
    assert mic.dropped_chunks > 0
    assert device.streams[0].closed


def test_mic_option_opens_the_system_microphone() -> None:
    args = build_parser().parse_args(["transcribe", "--mic", "--device", "3", "--chunk-ms", "40"])
    source = commands.live_source(args)
    assert isinstance(source, Microphone) and isinstance(source.device, SoundDevice)
    assert (source.device.device, source.block_frames, source.sample_rate_hz) == (3, 640, RATE)
    named = commands.live_source(build_parser().parse_args(
        ["transcribe", "--mic", "--device", "USB Audio"]))
    assert isinstance(named, Microphone) and isinstance(named.device, SoundDevice)
    assert named.device.device == "USB Audio"


def test_ctrl_c_stops_the_source_and_a_second_one_interrupts() -> None:
    source = FileSource(bytes(32000), RATE)
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with commands.interrupt_stops(source):
            signal.raise_signal(signal.SIGINT)
            assert list(source.chunks()) == []  # stopped
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is previous


def test_transcribe_mic_prints_finals_and_ctrl_c_flushes_the_last(server: ServerProcess) -> None:
    speech = [espeak(text) for text in TEXTS]
    pcm = pcm16(join(silence(0.3), speech[0], silence(2.0), speech[1]))
    device = RecordedDevice(pcm)
    mic = Microphone(device, sample_rate_hz=RATE, chunk_ms=100)
    # min_silence 1.5 s: the 2 s pause ends the first utterance; the second one can only end
    # by the flush that Ctrl-C starts, 0.2 s after its speech.
    args = build_parser().parse_args(["transcribe", "--mic", "--server", server.target,
                                      "--min-silence-ms", "1500"])
    heard_s = len(pcm) / 2 / RATE + 0.2

    def press_ctrl_c() -> None:
        while not device.streams or device.streams[0].blocks * 0.1 < heard_s:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    out = io.StringIO()
    previous = signal.getsignal(signal.SIGINT)
    presser.start()
    assert commands.run_live(args, mic, out) == 0
    presser.join(timeout=5)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    for text, line in zip(TEXTS, lines, strict=True):
        assert wer([text], [line]) == 0.0, (text, line)  # measured exact
    assert device.streams[0].closed and mic.dropped_chunks == 0
    assert signal.getsignal(signal.SIGINT) is previous
