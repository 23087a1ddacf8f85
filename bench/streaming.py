"""Streaming bench: 1, 4, 8 and 16 concurrent StreamingRecognize streams paced at real time.

Run from the repository root:  /work/venv/bin/python -m bench.streaming
Starts a real server (bench/support.py) on models/whisper-tiny.en and, for each concurrency,
streams multi-utterance espeak-ng recordings (known text, known pauses) in real time over raw
grpc.aio. Per level it prints: end of speech -> final result latency (p50, p95), measured from
when the chunk holding the last sample of the utterance's speech was sent; the part of it after
the server's SPEECH_ENDED event (decoding, as opposed to waiting out min_silence_ms); time from
speech start to the first interim result; streaming WER; server CPU; and whether the streams hold
real time (every utterance gets its final and the latency does not grow along the stream).
The client runs on the same cores as the server; its own lag behind the schedule is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench.cpu import CpuMeter
from bench.live import StreamRun, run_stream, streaming_config
from bench.peer import REPO
from bench.recordings import conversation
from bench.report import machine, percentile, require_model, save_json, table
from bench.support import ServerProcess, wer
from voxserve.v1 import recognizer_pb2, recognizer_pb2_grpc

LEVELS = (1, 4, 8, 16)
UTTERANCES_PER_STREAM = 5
PAUSE_S = 1.5  # between utterances: longer than the 500 ms default min_silence_ms
STAGGER_S = 0.37  # start of stream i = i * STAGGER_S mod 2 s, so endpoints do not all coincide
# A stream holds real time when every utterance gets a final and its last utterance's latency
# exceeds its first's by no more than this (a backlog would grow by the processing deficit).
BACKLOG_GROWTH_LIMIT_S = 1.0


@dataclass(frozen=True)
class UtteranceTiming:
    """One known utterance of one stream, as the client saw it (seconds; None: never came)."""

    final_s: float | None  # end of speech sent -> final received
    after_endpoint_s: float | None  # SPEECH_ENDED received -> final received
    first_interim_s: float | None  # speech start sent -> first interim received


@dataclass(frozen=True)
class StreamOutcome:
    """A stream's utterance timings, its transcript against the reference, and its health."""

    utterances: tuple[UtteranceTiming, ...]
    reference: str
    hypothesis: str
    send_lag_s: float
    drain_s: float  # last chunk sent -> server closed the stream

    @property
    def holds_real_time(self) -> bool:
        finals = [u.final_s for u in self.utterances if u.final_s is not None]
        if len(finals) < len(self.utterances):
            return False
        return finals[-1] - finals[0] <= BACKLOG_GROWTH_LIMIT_S


def analyse(run: StreamRun) -> StreamOutcome:
    """Match the server's finals to the known utterances by their stream offsets."""
    results = [(t, r.result) for t, r in run.heard
               if r.WhichOneof("streaming_response") == "result"]
    finals = [(t, r) for t, r in results if r.is_final]
    ended = {r.speech_event.utterance_index: t for t, r in run.heard
             if r.WhichOneof("streaming_response") == "speech_event"
             and r.speech_event.type == recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED}
    timings = []
    for utterance in run.conversation.utterances:
        match = next(((t, r) for t, r in finals
                      if r.start_offset_ms / 1000 < utterance.speech_end_s
                      and r.end_offset_ms / 1000 > utterance.speech_start_s), None)
        if match is None:
            timings.append(UtteranceTiming(None, None, None))
            continue
        heard_at, final = match
        interims = [t for t, r in results
                    if not r.is_final and r.utterance_index == final.utterance_index]
        endpoint_at = ended.get(final.utterance_index)
        timings.append(UtteranceTiming(
            final_s=heard_at - run.chunk_sent_at(utterance.speech_end_s),
            after_endpoint_s=None if endpoint_at is None else heard_at - endpoint_at,
            first_interim_s=(interims[0] - run.chunk_sent_at(utterance.speech_start_s)
                             if interims else None),
        ))
    return StreamOutcome(
        utterances=tuple(timings),
        reference=" ".join(u.text for u in run.conversation.utterances),
        hypothesis=" ".join(r.transcript for _, r in finals),
        send_lag_s=run.send_lag_s,
        drain_s=run.ended_at - run.sent_at[-1],
    )


async def run_level(target: str, streams: int, interim: bool, min_silence_ms: int,
                    chunk_ms: int, utterances: int = UTTERANCES_PER_STREAM) -> list[StreamRun]:
    """`streams` concurrent streams on one channel each, staggered starts."""
    config = streaming_config(interim, min_silence_ms)
    conversations = [conversation(utterances, PAUSE_S, first=i) for i in range(streams)]
    start = time.perf_counter() + 0.5
    channels = [grpc.aio.insecure_channel(target) for _ in range(streams)]
    try:
        return list(await asyncio.gather(*(
            run_stream(recognizer_pb2_grpc.RecognizerStub(channel), talk, config, chunk_ms,
                       start + (i * STAGGER_S) % 2.0)
            for i, (channel, talk) in enumerate(zip(channels, conversations, strict=True)))))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def level_row(streams: int, outcomes: Sequence[StreamOutcome], cpu_percent: float) -> list[object]:
    timings = [u for o in outcomes for u in o.utterances]
    finals = [u.final_s for u in timings if u.final_s is not None]
    decode = [u.after_endpoint_s for u in timings if u.after_endpoint_s is not None]
    interim = [u.first_interim_s for u in timings if u.first_interim_s is not None]
    held = sum(o.holds_real_time for o in outcomes)
    return [
        streams, f"{len(finals)}/{len(timings)}",
        f"{100 * wer([o.reference for o in outcomes], [o.hypothesis for o in outcomes]):.1f}",
        *_p50_p95(finals), *_p50_p95(decode), f"{len(interim)}/{len(timings)}",
        *_p50_p95(interim), f"{cpu_percent:.0f}", max(o.drain_s for o in outcomes),
        f"{held}/{len(outcomes)}", max(o.send_lag_s for o in outcomes),
        f"{os.getloadavg()[0]:.1f}",
    ]


def _p50_p95(values: Sequence[float]) -> list[object]:
    if not values:
        return ["n/a", "n/a"]
    return [percentile(values, 50), percentile(values, 95)]


HEADERS = ["streams", "finals", "WER %", "final p50 s", "final p95 s", "after endpoint p50 s",
           "after endpoint p95 s", "interims", "first interim p50 s", "first interim p95 s",
           "server CPU %", "drain max s", "real time", "client lag max s", "load 1 min"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "whisper-tiny.en",
                        help="recognizer model folder (default models/whisper-tiny.en)")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)),
                        help="concurrent stream counts to run, comma separated")
    parser.add_argument("--min-silence-ms", type=int, default=0,
                        help="endpointing min_silence_ms sent by clients (0: server default)")
    parser.add_argument("--chunk-ms", type=int, default=50, help="audio per message")
    parser.add_argument("--no-interim", action="store_true", help="streams without interims")
    parser.add_argument("--server-args", default="",
                        help="extra `voxserve serve` flags, e.g. '--intra-op-threads 2'")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    args = parser.parse_args()

    require_model(args.model)
    levels = [int(level) for level in args.levels.split(",")]
    server_args = ["--device", "cpu", "--max-streams", str(2 * max(levels)),
                   *shlex.split(args.server_args)]
    print(f"machine: {machine()}")
    print(f"server: {' '.join(server_args)} (plus bench/support.py's --inference-workers 2 "
          f"--intra-op-threads 1 unless overridden); {UTTERANCES_PER_STREAM} utterances per "
          f"stream, {PAUSE_S} s pauses, {args.chunk_ms} ms chunks, interim results "
          f"{'off' if args.no_interim else 'on'}, min_silence_ms "
          f"{args.min_silence_ms or 'server default'}\n")
    rows, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="voxserve-bench-") as scratch:
        models = Path(scratch)
        (models / args.model.name).symlink_to(args.model.resolve())
        with ServerProcess(models, *server_args) as server:
            server.wait_serving()
            # Warm-up: one short stream so first-call costs do not land on level 1.
            asyncio.run(run_level(server.target, 1, not args.no_interim, args.min_silence_ms,
                                  args.chunk_ms, utterances=1))
            for streams in levels:
                time.sleep(1.0)
                meter = CpuMeter(server.process.pid)
                runs = asyncio.run(run_level(server.target, streams, not args.no_interim,
                                             args.min_silence_ms, args.chunk_ms))
                cpu_percent = meter.percent()
                outcomes = [analyse(run) for run in runs]
                rows.append(level_row(streams, outcomes, cpu_percent))
                raw[str(streams)] = {"cpu_percent": cpu_percent,
                                     "streams": [o.__dict__ | {"utterances": [
                                         u.__dict__ for u in o.utterances]} for o in outcomes]}
                print(f"{streams} streams done", flush=True)
    print("\nLatency in seconds; 'final' counts from the end of speech (includes waiting out "
          "min_silence_ms),\n'after endpoint' from the server's SPEECH_ENDED event; 'interims': "
          "utterances that got one\n(a server that falls behind skips them); server CPU % of one "
          "core (200 = both); load average at the level's end:\n")
    print(table(HEADERS, rows))
    save_json(args.json, {"machine": machine(), "levels": raw})


if __name__ == "__main__":
    main()
