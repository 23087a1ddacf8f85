"""Drain hands a dictation over, seen through plain generated stubs (no voxserve helper): SIGTERM
mid-utterance -> the utterance is heard to its natural end, its final sent, the call ends
UNAVAILABLE with the resume point in its trailers; a second replica resumes from there with
continuous offsets and utterance indexes."""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.serverproc import ServerProcess
from tests.speech import RATE_HZ
from tests.test_deploy_nginx import CHUNK_BYTES, DICTATION, dictation, finals
from tests.wer import normalise
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

OFFSET_KEY = "x-voxserve-resume-offset-ms"
UTTERANCE_KEY = "x-voxserve-resume-utterance-index"


@pytest.fixture(scope="module")
def two_replicas(models_dir: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with (ServerProcess(models_dir, "--grace-s", "20") as first,
          ServerProcess(models_dir, "--grace-s", "20") as second):
        first.wait_serving()
        second.wait_serving()
        yield first, second


class RawStream:
    """StreamingRecognize through the generated stub: a queue feeds the requests, a thread reads
    the responses to the end."""

    def __init__(self, target: str, config: recognizer_pb2.StreamingRecognitionConfig) -> None:
        self._channel = grpc.insecure_channel(target)
        self._chunks: queue.Queue[bytes | None] = queue.Queue()
        self.responses: list[recognizer_pb2.StreamingRecognizeResponse] = []
        self.call = recognizer_pb2_grpc.RecognizerStub(self._channel).StreamingRecognize(
            self._requests(config), timeout=120)
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _requests(self, config: recognizer_pb2.StreamingRecognitionConfig
                  ) -> Iterator[recognizer_pb2.StreamingRecognizeRequest]:
        yield recognizer_pb2.StreamingRecognizeRequest(streaming_config=config)
        while (chunk := self._chunks.get()) is not None:
            yield recognizer_pb2.StreamingRecognizeRequest(audio_content=chunk)

    def _read(self) -> None:
        try:
            self.responses.extend(self.call)
        except grpc.RpcError:
            pass

    def send(self, audio: bytes) -> None:
        for at in range(0, len(audio), CHUNK_BYTES):
            self._chunks.put(audio[at : at + CHUNK_BYTES])

    def finish(self, half_close: bool) -> None:
        if half_close:
            self._chunks.put(None)
        self._reader.join(timeout=120)
        self._chunks.put(None)
        self._channel.close()


def config(**resume: int) -> recognizer_pb2.StreamingRecognitionConfig:
    return recognizer_pb2.StreamingRecognitionConfig(
        config=recognizer_pb2.RecognitionConfig(
            encoding=audio_pb2.AUDIO_ENCODING_LINEAR16, sample_rate_hz=RATE_HZ), **resume)


def test_drain_hands_the_stream_over_and_another_replica_resumes(
    two_replicas: tuple[ServerProcess, ServerProcess]
) -> None:
    first, second = two_replicas
    audio, starts = dictation()
    mid_second = int((starts[1] + 1.0) * RATE_HZ) * 2  # a second into the second sentence
    stream = RawStream(first.target, config())
    stream.send(audio[:mid_second])
    deadline = time.monotonic() + 60
    while not finals(stream.responses) and time.monotonic() < deadline:
        time.sleep(0.05)  # the first sentence is final; the second is open
    time.sleep(0.5)
    first.process.send_signal(signal.SIGTERM)
    stream.send(audio[mid_second:])  # the client goes on talking: it never half-closes
    stream.finish(half_close=False)
    assert first.process.wait(timeout=60) == 0

    drained = finals(stream.responses)
    # Both utterances that ended while draining are final, none cut mid-word, none repeated.
    assert [normalise(r.transcript) for r in drained] == [normalise(t) for t in DICTATION[:2]]
    assert [r.utterance_index for r in drained] == [0, 1]
    assert stream.call.code() == grpc.StatusCode.UNAVAILABLE  # never OK: the client went on
    trailers = dict(stream.call.trailing_metadata())
    resume_ms, next_utterance = int(trailers[OFFSET_KEY]), int(trailers[UTTERANCE_KEY])
    assert (resume_ms, next_utterance) == (drained[-1].end_offset_ms, 2)
    assert stream.call.details() == (
        f"server is shutting down; resume the stream on another replica from {resume_ms} ms,"
        " utterance 2")
    status = rpc_status.from_call(stream.call)
    assert status is not None
    retry_info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry_info)

    # Resume elsewhere: the audio from the resume point on, the point in the config.
    resumed = RawStream(second.target, config(resume_offset_ms=resume_ms,
                                              resume_utterance_index=next_utterance))
    resumed.send(audio[resume_ms * RATE_HZ // 1000 * 2 :])
    resumed.finish(half_close=True)
    assert resumed.call.code() == grpc.StatusCode.OK
    (last,) = finals(resumed.responses)
    assert normalise(last.transcript) == normalise(DICTATION[2])
    assert last.utterance_index == 2
    # Offsets continue: the third sentence starts where it does in the whole dictation.
    assert abs(last.start_offset_ms / 1000 - starts[2]) < 0.4
    assert last.start_offset_ms > drained[-1].end_offset_ms - 1
    events = [r.speech_event for r in resumed.responses if r.HasField("speech_event")]
    assert events and all(e.utterance_index == 2 for e in events)
    assert all(e.offset_ms >= resume_ms for e in events)
