"""Audio sources for live recognition: the microphone, and recordings that stand in for one.

Everything a stream sends comes from an `AudioSource`: 16-bit little-endian PCM chunks until it
is stopped or runs out. `Microphone` captures from an `InputDevice`: `SoundDevice` is the real
one (PortAudio via sounddevice); `RecordedDevice` plays a recording through the same interface
at the pace a microphone would, for tests and machines without one. `FileSource` reads a file's
samples, at real time or as fast as the server takes them.

`stop()` is safe from a signal handler: it only sets a flag, which chunks() polls.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

SAMPLE_BYTES = 2  # 16-bit PCM
DEFAULT_RATE_HZ = 16000
DEFAULT_CHUNK_MS = 100
# Captured chunks held while the network is slower than the microphone: 5 s at 100 ms.
MAX_QUEUED_CHUNKS = 50
_POLL_S = 0.05

BlockCallback = Callable[[bytes], None]


class AudioSource(Protocol):
    """16-bit little-endian PCM, as a stream's LINEAR16 audio."""

    @property
    def sample_rate_hz(self) -> int: ...

    @property
    def channels(self) -> int: ...

    def chunks(self) -> Iterator[bytes]:
        """The audio, chunk by chunk, until stop() is called or the source runs out."""
        ...

    def stop(self) -> None:
        """End chunks() after the audio already captured (safe from a signal handler)."""
        ...


class InputStream(Protocol):
    """An open capture stream: what sounddevice.RawInputStream offers and Microphone uses."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class InputDevice(Protocol):
    """Opens capture streams that call `callback` with each block of 16-bit mono samples, from
    the device's own thread."""

    def open(self, sample_rate_hz: int, block_frames: int,
             callback: BlockCallback) -> InputStream: ...


class SoundDevice:
    """A PortAudio input device via sounddevice; `device` is its name or index (None: default)."""

    def __init__(self, device: str | int | None = None) -> None:
        self.device = device

    def open(self, sample_rate_hz: int, block_frames: int,
             callback: BlockCallback) -> InputStream:
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
            raise OSError(
                "the microphone needs sounddevice and PortAudio: pip install 'voxserve[audio]'"
                " and install PortAudio (Debian: apt install libportaudio2)"
            ) from exc

        def captured(indata: Any, frames: int, when: Any, status: Any) -> None:
            callback(bytes(indata))

        stream: InputStream = sounddevice.RawInputStream(
            samplerate=sample_rate_hz, blocksize=block_frames, channels=1, dtype="int16",
            device=self.device, callback=captured,
        )
        return stream


class RecordedDevice:
    """An input device that plays a recording (16-bit mono PCM at the rate it is opened with)
    block by block at `speed` times real time, then silence until stopped - as a microphone
    would hear it."""

    def __init__(self, pcm16: bytes, speed: float = 1.0) -> None:
        if len(pcm16) % SAMPLE_BYTES:
            raise ValueError("pcm16 must hold whole 16-bit samples")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.pcm16 = pcm16
        self.speed = speed
        self.streams: list[RecordedStream] = []

    def open(self, sample_rate_hz: int, block_frames: int,
             callback: BlockCallback) -> RecordedStream:
        stream = RecordedStream(self.pcm16, sample_rate_hz, block_frames, callback, self.speed)
        self.streams.append(stream)
        return stream


class RecordedStream:
    """One open stream of a RecordedDevice: a thread calling back once per block."""

    def __init__(self, pcm16: bytes, sample_rate_hz: int, block_frames: int,
                 callback: BlockCallback, speed: float) -> None:
        self._pcm16 = pcm16
        self._block_bytes = block_frames * SAMPLE_BYTES
        self._block_s = block_frames / sample_rate_hz / speed
        self._callback = callback
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._play, name="recorded-input", daemon=True)
        self.blocks = 0
        self.closed = False

    @property
    def played_bytes(self) -> int:
        """Bytes of the recording delivered so far (silence after it not counted)."""
        return min(self.blocks * self._block_bytes, len(self._pcm16))

    def start(self) -> None:
        self._running.set()
        self._thread.start()

    def stop(self) -> None:
        self._running.clear()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self) -> None:
        self.stop()
        self.closed = True

    def _play(self) -> None:
        started_s = time.monotonic()
        while self._running.is_set():
            at = self.blocks * self._block_bytes
            block = self._pcm16[at : at + self._block_bytes]
            block += bytes(self._block_bytes - len(block))
            # Sleep to this block's capture time, so delivery never drifts from real time.
            time.sleep(max(0.0, started_s + (self.blocks + 1) * self._block_s - time.monotonic()))
            if not self._running.is_set():
                return
            self._callback(block)
            self.blocks += 1


class Microphone:
    """Live audio from an input device (default: the system's microphone) in chunk_ms chunks.

    The device's callback only queues; a full queue (the network stalled for seconds) drops the
    newest block and counts it in `dropped_chunks`, never blocking the audio thread.
    """

    channels = 1

    def __init__(self, device: InputDevice | None = None, sample_rate_hz: int = DEFAULT_RATE_HZ,
                 chunk_ms: int = DEFAULT_CHUNK_MS,
                 max_queued_chunks: int = MAX_QUEUED_CHUNKS) -> None:
        if sample_rate_hz <= 0 or chunk_ms <= 0 or max_queued_chunks <= 0:
            raise ValueError("sample_rate_hz, chunk_ms and max_queued_chunks must be > 0")
        self.device: InputDevice = device or SoundDevice()
        self.sample_rate_hz = sample_rate_hz
        self.block_frames = sample_rate_hz * chunk_ms // 1000
        self.dropped_chunks = 0
        self._queue: queue.Queue[bytes] = queue.Queue(max_queued_chunks)
        self._stopping = False

    def chunks(self) -> Iterator[bytes]:
        stream = self.device.open(self.sample_rate_hz, self.block_frames, self._captured)
        stream.start()
        try:
            while not self._stopping:
                try:
                    yield self._queue.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
        finally:
            stream.stop()
            stream.close()
        yield from _drain(self._queue)

    def stop(self) -> None:
        self._stopping = True

    def _captured(self, block: bytes) -> None:
        try:
            self._queue.put_nowait(block)
        except queue.Full:
            self.dropped_chunks += 1


class FileSource:
    """A recording's 16-bit PCM in chunk_ms chunks: paced at real time, or as fast as read."""

    def __init__(self, pcm16: bytes, sample_rate_hz: int, channels: int = 1,
                 chunk_ms: int = DEFAULT_CHUNK_MS, realtime: bool = False) -> None:
        if sample_rate_hz <= 0 or channels <= 0 or chunk_ms <= 0:
            raise ValueError("sample_rate_hz, channels and chunk_ms must be > 0")
        if len(pcm16) % (SAMPLE_BYTES * channels):
            raise ValueError("pcm16 must hold whole frames of 16-bit samples")
        self.pcm16 = pcm16
        self.sample_rate_hz = sample_rate_hz
        self.channels = channels
        self.chunk_bytes = sample_rate_hz * chunk_ms // 1000 * SAMPLE_BYTES * channels
        self.realtime = realtime
        self._stopping = False

    def chunks(self) -> Iterator[bytes]:
        started_s = time.monotonic()
        bytes_per_s = self.sample_rate_hz * SAMPLE_BYTES * self.channels
        for at in range(0, len(self.pcm16), self.chunk_bytes):
            if self._stopping:
                return
            chunk = self.pcm16[at : at + self.chunk_bytes]
            if self.realtime:  # sent once the chunk's last sample would have been heard
                due_s = started_s + (at + len(chunk)) / bytes_per_s
                time.sleep(max(0.0, due_s - time.monotonic()))
            yield chunk

    def stop(self) -> None:
        self._stopping = True


def _drain(chunks: queue.Queue[bytes]) -> Iterator[bytes]:
    while True:
        try:
            yield chunks.get_nowait()
        except queue.Empty:
            return
