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
from pathlib import Path

import grpc
import numpy as np

from bench.live import run_stream, streaming_config
from bench.peer import REPO
from bench.recordings import Conversation, Utterance
from bench.report import machine, require_model, save_json, table
from tests.realspeech import Clip, asterisk_all, pause, shared_clips
from tests.serverproc import ServerProcess
from tests.speech import wav_bytes
from tests.wer import wer
from voxserve.client.client import VoxClient
from voxserve.v1 import recognizer_pb2_grpc

PAUSE_S = 1.5  # between clips: past the endpointer's default 500 ms minimum silence
CHUNK_MS = 50


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


async def stream_all(target: str, talks: list[Conversation]) -> list[str]:
    """Each conversation on its own stream at real time, all at once: the finals' text."""
    config = streaming_config(interim=False, min_silence_ms=0)
    channels = [grpc.aio.insecure_channel(target) for _ in talks]
    start = time.perf_counter() + 0.5
    try:
        runs = await asyncio.gather(*(
            run_stream(recognizer_pb2_grpc.RecognizerStub(channel), talk, config, CHUNK_MS,
                       start + 0.1 * i)
            for i, (channel, talk) in enumerate(zip(channels, talks, strict=True))))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return [" ".join(r.result.transcript for _, r in run.heard
                     if r.HasField("result") and r.result.is_final) for run in runs]


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
            streamed = asyncio.run(stream_all(server.target, talks))
            with VoxClient(server.target) as client:
                unary = {c.name: client.recognize(wav_bytes(c.audio), timeout_s=600).transcript
                         for c in clips}
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
