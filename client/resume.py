"""Resume: a live recognition stream that survives the loss of its replica.

The stream keeps the audio sent since the last final result. When the call is lost (the replica
was killed, drained or refused it), it opens a new stream through the client's next connection,
sends the kept audio again, and shifts what the new stream reports: offsets by the audio time
already finalized, utterance indexes by the utterances already final. The caller sees one
stream with continuous offsets and loses no words. An utterance that was open when the replica
was lost is heard again from its start: its speech-started event and interim results may
repeat, its final result comes once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc

from voxserve.client.client import VoxClient
from voxserve.client.retry import Lease, is_retryable
from voxserve.client.streaming import Response, StreamingRecognizer, StreamSettings
from voxserve.v1 import audio_pb2, recognizer_pb2

BYTES_PER_SAMPLE = {audio_pb2.AUDIO_ENCODING_LINEAR16: 2, audio_pb2.AUDIO_ENCODING_MULAW: 1,
                    audio_pb2.AUDIO_ENCODING_ALAW: 1}


class ResumingRecognizer:
    """A blocking StreamingRecognize call that resumes on another replica when its own is lost.

    Same use as StreamingRecognizer: `send()` audio (from one thread), `close()` at the end,
    iterate the responses (in another). Call `resumes` counts the times it moved on.
    """

    def __init__(self, client: VoxClient, settings: StreamSettings, *,
                 timeout_s: float | None = None) -> None:
        self._client = client
        self._settings = settings
        self._timeout_s = timeout_s
        self._frame_bytes = BYTES_PER_SAMPLE[settings.encoding] * settings.channels
        self._bytes_per_s = self._frame_bytes * settings.sample_rate_hz
        self._lock = threading.Lock()
        self._kept = bytearray()  # audio since the last final, sent again on resume
        self._kept_from = 0  # stream position, in bytes, of the first kept byte
        self._next_utterance = 0  # index of the first utterance not final yet
        self._shift_ms = 0  # stream time at which the current call's audio starts
        self._utterance_base = 0
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
                self._resume()

    def _open(self) -> tuple[Lease, StreamingRecognizer]:
        lease = self._client.replicas.lease()
        stream = StreamingRecognizer(
            lease.connection.recognizer, self._settings,
            metadata=self._client.options.metadata(), timeout_s=self._timeout_s)
        return lease, stream

    def _resume(self) -> None:
        """A new call on the next connection, fed the kept audio before any new chunk."""
        self._client.replicas.failed(self._lease)
        with self._lock:
            self._lease, self._stream = self._open()
            self._shift_ms = round(1000 * self._kept_from / self._bytes_per_s)
            self._utterance_base = self._next_utterance
            if self._kept:
                self._stream.send(bytes(self._kept))
            if self._closed:
                self._stream.close()
            self.resumes += 1

    def _shifted(self, response: Response) -> Response:
        """The response in the whole stream's time and utterance count."""
        shifted = Response()
        shifted.CopyFrom(response)
        if shifted.HasField("speech_event"):
            shifted.speech_event.offset_ms += self._shift_ms
            shifted.speech_event.utterance_index += self._utterance_base
            return shifted
        result = shifted.result
        result.start_offset_ms += self._shift_ms
        result.end_offset_ms += self._shift_ms
        result.utterance_index += self._utterance_base
        for word in result.words:
            word.start_offset_ms += self._shift_ms
            word.end_offset_ms += self._shift_ms
        if result.is_final:
            self._finalized(result)
        return shifted

    def _finalized(self, result: recognizer_pb2.StreamingRecognitionResult) -> None:
        """Audio up to the final's end will not be needed again."""
        end = result.end_offset_ms * self._bytes_per_s // 1000
        end -= end % self._frame_bytes
        with self._lock:
            cut = min(max(0, end - self._kept_from), len(self._kept))
            del self._kept[:cut]
            self._kept_from += cut
            self._next_utterance = result.utterance_index + 1
