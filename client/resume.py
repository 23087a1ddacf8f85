"""Resume: a live recognition stream that survives the drain or loss of its replica.

The stream keeps the audio sent since the last final result (at most `max_replay_s` of it).
When the call ends UNAVAILABLE (a draining replica hands the stream over once no utterance is
open) or is lost (the replica was killed), it waits a backoff, opens a new stream through the
client's next connection with `resume_offset_ms` (where the kept audio starts) and
`resume_utterance_index` (one past the last final) in its config, and sends the kept audio
again. The server reports the new stream's offsets and utterance indexes in the dictation's
terms (docs/clients.md, "Resuming a stream"), so the caller sees one stream with continuous
offsets and loses no words. An utterance that was open when a replica was killed is heard again
from its start: its speech-started event and interim results may repeat, its final comes once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc

from voxserve.client.client import VoxClient
from voxserve.client.retry import Lease, is_retryable
from voxserve.client.streaming import Response, StreamingRecognizer, StreamSettings
from voxserve.v1 import audio_pb2, recognizer_pb2

BYTES_PER_SAMPLE = {audio_pb2.AUDIO_ENCODING_LINEAR16: 2, audio_pb2.AUDIO_ENCODING_MULAW: 1,
                    audio_pb2.AUDIO_ENCODING_ALAW: 1}
# Audio kept for replay: three times the server's longest utterance (20 s by default), so any
# utterance not final yet is kept whole; older audio with no final is silence by then.
MAX_REPLAY_S = 60.0


class ResumingRecognizer:
    """A blocking StreamingRecognize call that resumes on another replica when its own is lost.

    Same use as StreamingRecognizer: `send()` audio (from one thread), `close()` at the end,
    iterate the responses (in another). Call `resumes` counts the times it moved on.
    """

    def __init__(self, client: VoxClient, settings: StreamSettings, *,
                 timeout_s: float | None = None, max_replay_s: float = MAX_REPLAY_S) -> None:
        self._client = client
        self._settings = settings
        self._timeout_s = timeout_s
        self._frame_bytes = BYTES_PER_SAMPLE[settings.encoding] * settings.channels
        self._bytes_per_s = self._frame_bytes * settings.sample_rate_hz
        replay_bytes = int(max_replay_s * self._bytes_per_s)
        self._max_kept = replay_bytes - replay_bytes % self._frame_bytes
        self._lock = threading.Lock()
        self._kept = bytearray()  # audio since the last final, sent again on resume
        self._kept_from = 0  # stream position, in bytes, of the first kept byte
        self._next_utterance = 0  # index of the first utterance not final yet
        self._closed = False
        self.resumes = 0
        self._lease, self._stream = self._open()

    def __enter__(self) -> ResumingRecognizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.cancel()

    def send(self, chunk: bytes) -> None:
        if self._closed:
            raise RuntimeError("send() after close()")
        with self._lock:
            self._kept += chunk
            self._bound_kept()
            stream = self._stream
        try:
            stream.send(chunk)
        except RuntimeError:
            pass  # that call has ended; the chunk is kept and goes to the next one

    def close(self) -> None:
        """Half-close: the server sends the last finals, then the stream ends."""
        with self._lock:
            self._closed = True
            stream = self._stream
        stream.close()

    def __iter__(self) -> Iterator[Response]:
        failures = 0
        while True:
            try:
                for response in self._stream:
                    failures = 0
                    yield self._shifted(response)
                return
            except grpc.RpcError as error:
                failures += 1
                if not is_retryable(error) or failures >= self._client.retry.max_attempts:
                    raise
                # A drained replica says at once that another will take the stream; a lost one
                # may be restarting: back off (with jitter) before each try after the first.
                if failures > 1:
                    time.sleep(self._client.retry.backoff_s(failures - 1))
                self._resume()

    def _open(self) -> tuple[Lease, StreamingRecognizer]:
        config = self._settings.message()
        if self._kept_from or self._next_utterance:
            config.resume_offset_ms = round(1000 * self._kept_from / self._bytes_per_s)
            config.resume_utterance_index = self._next_utterance
        lease = self._client.replicas.lease()
        stream = StreamingRecognizer(
            lease.connection.recognizer, config,
            metadata=self._client.options.metadata(), timeout_s=self._timeout_s)
        return lease, stream

    def _resume(self) -> None:
        """A new call on the next connection, fed the kept audio before any new chunk."""
        self._client.replicas.failed(self._lease)
        with self._lock:
            self._lease, self._stream = self._open()
            if self._kept:
                self._stream.send(bytes(self._kept))
            if self._closed:
                self._stream.close()
            self.resumes += 1

    def _shifted(self, response: Response) -> Response:
        """The response as the server sent it (already in the dictation's offsets, from the
        resume fields); a final moves the replay point past its audio."""
        if response.HasField("result") and response.result.is_final:
            self._finalized(response.result)
        return response

    def _bound_kept(self) -> None:
        """Keep at most max_replay_s: the oldest audio past it is dropped (lock held)."""
        excess = len(self._kept) - self._max_kept
        if excess > 0:
            excess += (-excess) % self._frame_bytes
            del self._kept[:excess]
            self._kept_from += excess

    def _finalized(self, result: recognizer_pb2.StreamingRecognitionResult) -> None:
        """Audio up to the final's end will not be needed again."""
        end = result.end_offset_ms * self._bytes_per_s // 1000
        end -= end % self._frame_bytes
        with self._lock:
            cut = min(max(0, end - self._kept_from), len(self._kept))
            del self._kept[:cut]
            self._kept_from += cut
            self._next_utterance = result.utterance_index + 1
