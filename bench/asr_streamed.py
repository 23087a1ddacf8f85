"""Real speech through a real server: StreamingRecognize at real-time pace against Recognize.

Run from the repository root:  /work/venv/bin/python -m bench.asr_streamed [--streams 8]
All of asterisk-en (563 prompts) and ../shared/speech, split into `--streams` conversations of
clips separated by PAUSE_S of silence, each streamed at real time (50 ms chunks) on its own
stream, all at once; then every clip once through Recognize on the same server. Prints the
pooled WER of both (after Whisper's English normaliser) and the clips a stream lost.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np

from bench.live import pcm_chunks, streaming_config
from bench.peer import REPO
from bench.realspeech import Clip, asterisk_all, pause, shared_clips
from bench.recordings import Conversation, Utterance
from bench.report import machine, require_model, save_json, table
from bench.scoring import wer
from bench.support import RATE_HZ, ServerProcess
from voxserve.client.client import VoxClient
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

# Recognize gets the same samples the streams send: raw LINEAR16 at 16 kHz
LINEAR16_16K = recognizer_pb2.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                                sample_rate_hz=RATE_HZ)
PAUSE_S = 1.5  # between clips: past the endpointer's default 500 ms minimum silence
CHUNK_MS = 50


def pcm16(audio: np.ndarray) -> bytes:
    return b"".join(pcm_chunks(audio, len(audio)))


def conversations(clips: list[Clip], streams: int) -> list[Conversation]:
    """The clips dealt round-robin to `streams` conversations, pauses between them."""
    talks = []
    for first in range(streams):
        parts, utterances, at_s = [pause(0.5)], [], 0.5
        for clip in clips[first::streams]:
            parts += [clip.audio, pause(PAUSE_S)]
            utterances.append(Utterance(clip.text, at_s, at_s + clip.duration_s))
            at_s += clip.duration_s + PAUSE_S
        talks.append(Conversation(np.concatenate(parts), tuple(utterances)))
    return talks


async def stream_one(stub: recognizer_pb2_grpc.RecognizerStub, talk: Conversation,
                     start_at: float) -> tuple[str, str]:
    """One conversation at real time from `start_at`, then half-close: the finals' text and
    how the call ended ("OK", or the status and its message)."""
    config = streaming_config(interim=False, min_silence_ms=0)
    chunks = pcm_chunks(talk.audio, RATE_HZ * CHUNK_MS // 1000)

    async def requests() -> AsyncIterator[recognizer_pb2.StreamingRecognizeRequest]:
        await asyncio.sleep(max(0.0, start_at - time.perf_counter()))
        yield recognizer_pb2.StreamingRecognizeRequest(streaming_config=config)
        for index, chunk in enumerate(chunks):
            due = start_at + (index + 1) * CHUNK_MS / 1000  # a microphone's schedule
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            yield recognizer_pb2.StreamingRecognizeRequest(audio_content=chunk)

    finals: list[str] = []
    try:
        async for response in stub.StreamingRecognize(requests()):
            if response.HasField("result") and response.result.is_final:
                finals.append(response.result.transcript)
    except grpc.aio.AioRpcError as exc:
        return " ".join(finals), f"{exc.code().name}: {exc.details()}"
    return " ".join(finals), "OK"


async def stream_all(target: str, talks: list[Conversation]) -> list[tuple[str, str]]:
    """Each conversation on its own channel and stream, all at once."""
    channels = [grpc.aio.insecure_channel(target) for _ in talks]
    start = time.perf_counter() + 0.5
    try:
        return list(await asyncio.gather(*(
            stream_one(recognizer_pb2_grpc.RecognizerStub(channel), talk, start + 0.1 * i)
            for i, (channel, talk) in enumerate(zip(channels, talks, strict=True)))))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "whisper-tiny.en")
    parser.add_argument("--streams", type=int, default=8, help="concurrent real-time streams")
    parser.add_argument("--server-args", default="", help="extra `voxserve serve` flags")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    args = parser.parse_args()

    require_model(args.model)
    clips = asterisk_all() + shared_clips()
    talks = conversations(clips, args.streams)
    server_args = ["--device", "cpu", *shlex.split(args.server_args)]
    print(f"machine: {machine()}")
    print(f"server: {' '.join(server_args)}; {len(clips)} clips in {args.streams} streams of "
          f"{max(t.duration_s for t in talks):.0f} s at most, {PAUSE_S} s pauses\n")
    with tempfile.TemporaryDirectory(prefix="voxserve-bench-") as scratch:
        models = Path(scratch)
        (models / args.model.name).symlink_to(args.model.resolve())
        with ServerProcess(models, *server_args) as server:
            server.wait_serving()
            outcomes = asyncio.run(stream_all(server.target, talks))
            with VoxClient(server.target) as client:
                unary = {c.name: client.recognize(pcm16(c.audio), LINEAR16_16K,
                                                  timeout_s=600).transcript for c in clips}
    streamed = [text for text, _ in outcomes]
    for index, (_, ended) in enumerate(outcomes):
        print(f"stream {index}: {ended}")
    references = [" ".join(u.text for u in t.utterances) for t in talks]
    joined = [" ".join(unary[c.name] for c in clips[i::args.streams])
              for i in range(args.streams)]
    rows = [["Recognize (each clip)", f"{100 * wer(references, joined):.2f}"],
            [f"StreamingRecognize ({args.streams} at real time)",
             f"{100 * wer(references, streamed):.2f}"]]
    print(table(["path", "WER %"], rows))
    save_json(args.json, {"machine": machine(), "streamed": streamed, "unary": unary})


if __name__ == "__main__":
    main()
