"""Streaming bench: concurrent StreamingRecognize streams of real speech paced at real time.

Run from the repository root:  /work/venv/bin/python -m bench.streaming
Starts a real server (bench/support.py) on models/whisper-tiny.en with no tuning flags (it sizes
its workers and threads from its cores; --server-args adds flags) and, for each concurrency,
streams real human speech in real time over raw grpc.aio: asterisk-en prompts joined with
0.5-1.5 s pauses plus a ../shared/speech recording per stream (bench/real_speech.py; --speech
espeak streams the older espeak-ng conversations). Per level it prints: the last final of each
known utterance after its end of speech (p50, p95), measured from when the chunk holding the
last sample of its speech was sent; the part of it after the server's SPEECH_ENDED event; the
finals' own latency_ms (endpoint to final, as the server reports it); time from speech start to
the first interim; interims received, and those saying a block of words twice in a row (a
decoding loop, or speech said twice); WER of the streamed finals and of
offline Recognize on the same audio (both after Whisper's English normalizer); committed-word
revisions (an interim whose committed words do not extend the previous interim's: the API
promises none) and utterances whose final disagrees with the committed words of its last
interim; server CPU; and whether the streams hold real time (every utterance gets its final and
the latency does not grow along the stream).
The client runs on the same cores as the server; its own lag behind the schedule is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shlex
import tempfile
import time
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from whisper_normalizer.english import EnglishTextNormalizer

from bench import real_speech, recordings
from bench.cpu import CpuMeter
from bench.live import StreamRun, run_stream, streaming_config
from bench.peer import REPO
from bench.recordings import Conversation
from bench.report import machine, percentile, require_model, save_json, table
from bench.support import RATE_HZ, ServerProcess, wer
from voxserve.server.asr.repeats import has_repeated_words
from voxserve.v1 import audio_pb2, recognizer_pb2, recognizer_pb2_grpc

LEVELS = (1, 4, 8, 16)
UTTERANCES_PER_STREAM = 5  # real speech: prompts per stream, plus one shared recording
_NORMALIZE = EnglishTextNormalizer()
PAUSE_S = 1.5  # between utterances: longer than the 500 ms default min_silence_ms
STAGGER_S = 0.37  # start of stream i = i * STAGGER_S mod 2 s, so endpoints do not all coincide
# A stream holds real time when every utterance gets a final and its last utterance's latency
# exceeds its first's by no more than this (a backlog would grow by the processing deficit).
BACKLOG_GROWTH_LIMIT_S = 1.0


@dataclass(frozen=True)
class UtteranceTiming:
    """One known utterance of one stream, as the client saw it (seconds; None: never came)."""

    final_s: float | None  # end of speech sent -> the last final covering it received
    after_endpoint_s: float | None  # SPEECH_ENDED received -> that final received
    reported_latency_s: float | None  # that final's latency_ms (endpoint -> ready, server side)
    first_interim_s: float | None  # speech start sent -> first interim received


@dataclass(frozen=True)
class StreamOutcome:
    """A stream's utterance timings, its transcript against the reference, and its health."""

    utterances: tuple[UtteranceTiming, ...]
    reference: str
    hypothesis: str
    send_lag_s: float
    drain_s: float  # last chunk sent -> server closed the stream
    committed_revisions: int  # interims whose committed words did not extend the previous ones
    finals_off_committed: int  # utterances whose final does not start with its committed words
    utterances_with_committed: int
    interim_results: int  # interims received (each one decode that reached the client)
    repeating_interims: int  # interims whose text says a block of words twice in a row

    @property
    def holds_real_time(self) -> bool:
        finals = [u.final_s for u in self.utterances if u.final_s is not None]
        if len(finals) < len(self.utterances):
            return False
        return finals[-1] - finals[0] <= BACKLOG_GROWTH_LIMIT_S


def analyse(run: StreamRun) -> StreamOutcome:
    """Match the server's finals to the known utterances by their stream offsets: an utterance
    is done when the last final whose audio overlaps its speech arrives."""
    results = [(t, r.result) for t, r in run.heard
               if r.WhichOneof("streaming_response") == "result"]
    finals = [(t, r) for t, r in results if r.is_final]
    ended = {r.speech_event.utterance_index: t for t, r in run.heard
             if r.WhichOneof("streaming_response") == "speech_event"
             and r.speech_event.type == recognizer_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED}
    timings = []
    for utterance in run.conversation.utterances:
        covering = [(t, r) for t, r in finals
                    if r.start_offset_ms / 1000 < utterance.speech_end_s
                    and r.end_offset_ms / 1000 > utterance.speech_start_s]
        if not covering:
            timings.append(UtteranceTiming(None, None, None, None))
            continue
        heard_at, final = covering[-1]
        first = covering[0][1].utterance_index
        interims = [t for t, r in results if not r.is_final and r.utterance_index == first
                    and r.end_offset_ms / 1000 > utterance.speech_start_s]
        endpoint_at = ended.get(final.utterance_index)
        timings.append(UtteranceTiming(
            final_s=heard_at - run.chunk_sent_at(utterance.speech_end_s),
            after_endpoint_s=None if endpoint_at is None else heard_at - endpoint_at,
            reported_latency_s=final.latency_ms / 1000,
            first_interim_s=(interims[0] - run.chunk_sent_at(utterance.speech_start_s)
                             if interims else None),
        ))
    revisions, off, with_committed = committed_word_checks([r for _, r in results])
    return StreamOutcome(
        utterances=tuple(timings),
        reference=" ".join(u.text for u in run.conversation.utterances),
        hypothesis=" ".join(r.transcript for _, r in finals),
        send_lag_s=run.send_lag_s,
        drain_s=run.ended_at - run.sent_at[-1],
        committed_revisions=revisions,
        finals_off_committed=off,
        utterances_with_committed=with_committed,
        interim_results=sum(not r.is_final for _, r in results),
        repeating_interims=sum(not r.is_final and has_repeated_words(r.transcript)
                               for _, r in results),
    )


def committed_word_checks(results: Sequence[recognizer_pb2.StreamingRecognitionResult]
                          ) -> tuple[int, int, int]:
    """(interims whose committed words are not an extension of the previous interim's,
    finals that do not start with their last interim's committed words, utterances with any
    committed words), comparing words as the server does: lower case, no punctuation."""
    committed: dict[int, list[str]] = {}
    revisions = off = 0
    for result in results:
        words = _words(result.committed_transcript if not result.is_final else result.transcript)
        before = committed.get(result.utterance_index, [])
        if result.is_final:
            off += words[: len(before)] != before
            continue
        revisions += words[: len(before)] != before
        committed[result.utterance_index] = words
    return revisions, off, sum(bool(words) for words in committed.values())


def _words(text: str) -> list[str]:
    return [w for w in ("".join(c for c in word.lower() if c.isalnum() or c == "'")
                        for word in text.split()) if w]


def offline_transcripts(target: str, conversations: Sequence[Conversation]) -> list[str]:
    """Recognize (offline, whole recording) on each conversation's audio."""
    with grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024)]) as channel:
        stub = recognizer_pb2_grpc.RecognizerStub(channel)
        config = recognizer_pb2.RecognitionConfig(encoding=audio_pb2.AUDIO_ENCODING_UNSPECIFIED)
        return [stub.Recognize(recognizer_pb2.RecognizeRequest(
            config=config, audio_content=_wav(c.audio)), timeout=600).transcript
            for c in conversations]


def _wav(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE_HZ)
        writer.writeframes((np.clip(audio, -1, 1) * 32767).round().astype("<i2").tobytes())
    return out.getvalue()


def normalized_wer(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    return wer([_NORMALIZE(r) for r in references], [_NORMALIZE(h) for h in hypotheses])


def conversations_for(speech: str, streams: int, utterances: int) -> list[Conversation]:
    if speech == "real":
        return [real_speech.conversation(i, utterances) for i in range(streams)]
    return [recordings.conversation(utterances, PAUSE_S, first=i) for i in range(streams)]


async def run_level(target: str, conversations: Sequence[Conversation], interim: bool,
                    min_silence_ms: int, chunk_ms: int) -> list[StreamRun]:
    """One concurrent stream per conversation, on one channel each, staggered starts."""
    config = streaming_config(interim, min_silence_ms)
    start = time.perf_counter() + 0.5
    channels = [grpc.aio.insecure_channel(target) for _ in conversations]
    try:
        return list(await asyncio.gather(*(
            run_stream(recognizer_pb2_grpc.RecognizerStub(channel), talk, config, chunk_ms,
                       start + (i * STAGGER_S) % 2.0)
            for i, (channel, talk) in enumerate(zip(channels, conversations, strict=True)))))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def level_row(streams: int, outcomes: Sequence[StreamOutcome], offline: Sequence[str],
              cpu_percent: float) -> list[object]:
    timings = [u for o in outcomes for u in o.utterances]
    finals = [u.final_s for u in timings if u.final_s is not None]
    decode = [u.after_endpoint_s for u in timings if u.after_endpoint_s is not None]
    reported = [u.reported_latency_s for u in timings if u.reported_latency_s is not None]
    interim = [u.first_interim_s for u in timings if u.first_interim_s is not None]
    held = sum(o.holds_real_time for o in outcomes)
    references = [o.reference for o in outcomes]
    return [
        streams, f"{len(finals)}/{len(timings)}",
        f"{100 * normalized_wer(references, [o.hypothesis for o in outcomes]):.1f}",
        f"{100 * normalized_wer(references, offline):.1f}",
        *_p50_p95(finals), *_p50_p95(decode), *_p50_p95(reported),
        f"{len(interim)}/{len(timings)}", *_p50_p95(interim),
        sum(o.interim_results for o in outcomes),
        sum(o.repeating_interims for o in outcomes),
        sum(o.committed_revisions for o in outcomes),
        f"{sum(o.finals_off_committed for o in outcomes)}/"
        f"{sum(o.utterances_with_committed for o in outcomes)}",
        f"{cpu_percent:.0f}", max(o.drain_s for o in outcomes),
        f"{held}/{len(outcomes)}", max(o.send_lag_s for o in outcomes),
        f"{os.getloadavg()[0]:.1f}",
    ]


def _p50_p95(values: Sequence[float]) -> list[object]:
    if not values:
        return ["n/a", "n/a"]
    return [percentile(values, 50), percentile(values, 95)]


HEADERS = ["streams", "finals", "WER %", "offline WER %", "final p50 s", "final p95 s",
           "after endpoint p50 s", "after endpoint p95 s", "latency_ms p50 s",
           "latency_ms p95 s", "interims", "first interim p50 s", "first interim p95 s",
           "interim results", "repeating interims",
           "committed revisions", "finals off committed", "server CPU %", "drain max s",
           "real time", "client lag max s", "load 1 min"]


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
    parser.add_argument("--speech", choices=("real", "espeak"), default="real",
                        help="real human speech (asterisk-en prompts, ../shared/speech) or the "
                        "espeak-ng conversations")
    parser.add_argument("--tuned", action="store_true",
                        help="start the server with bench/support.py's --inference-workers 2 "
                        "--intra-op-threads 1 instead of no thread flags")
    parser.add_argument("--server-args", default="",
                        help="extra `voxserve serve` flags, e.g. '--intra-op-threads 2'")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    args = parser.parse_args()

    require_model(args.model)
    levels = [int(level) for level in args.levels.split(",")]
    server_args = ["--device", "cpu", "--max-streams", str(2 * max(levels)),
                   *shlex.split(args.server_args)]
    print(f"machine: {machine()}")
    print(f"server: {' '.join(server_args)} "
          f"{'(plus --inference-workers 2 --intra-op-threads 1)' if args.tuned else '(sized)'};"
          f" {args.speech} speech, {UTTERANCES_PER_STREAM} utterances per stream, "
          f"{args.chunk_ms} ms chunks, interim results {'off' if args.no_interim else 'on'}, "
          f"min_silence_ms {args.min_silence_ms or 'server default'}\n")
    rows, raw = [], {}
    with tempfile.TemporaryDirectory(prefix="voxserve-bench-") as scratch:
        models = Path(scratch)
        (models / args.model.name).symlink_to(args.model.resolve())
        with ServerProcess(models, *server_args, sized=not args.tuned) as server:
            server.wait_serving()
            print(_sizing_line(server.output()))
            # Warm-up: one short stream so first-call costs do not land on level 1.
            warm = conversations_for(args.speech, 1, 1)
            asyncio.run(run_level(server.target, warm, not args.no_interim,
                                  args.min_silence_ms, args.chunk_ms))
            for streams in levels:
                talks = conversations_for(args.speech, streams, UTTERANCES_PER_STREAM)
                time.sleep(1.0)
                meter = CpuMeter(server.process.pid)
                runs = asyncio.run(run_level(server.target, talks, not args.no_interim,
                                             args.min_silence_ms, args.chunk_ms))
                cpu_percent = meter.percent()
                offline = offline_transcripts(server.target, talks)
                outcomes = [analyse(run) for run in runs]
                rows.append(level_row(streams, outcomes, offline, cpu_percent))
                raw[str(streams)] = {"cpu_percent": cpu_percent, "offline": offline,
                                     "streams": [o.__dict__ | {"utterances": [
                                         u.__dict__ for u in o.utterances]} for o in outcomes]}
                print(f"{streams} streams done", flush=True)
    print("\nLatency in seconds; 'final' counts from the end of speech to the last final covering"
          " the utterance\n(includes the endpoint's wait), 'after endpoint' from the server's "
          "SPEECH_ENDED event, 'latency_ms' as the\nfinals report it; 'interims': utterances that"
          " got one ('interim results': all received); server CPU % of one core (200 = both);"
          "\nload average at the level's end:\n")
    print(table(HEADERS, rows))
    save_json(args.json, {"machine": machine(), "levels": raw})


def _sizing_line(log: str) -> str:
    for line in log.splitlines():
        if "inference workers" in line:
            return "server log: " + line.split(": ", 1)[-1]
    return "server log: no sizing line"


if __name__ == "__main__":
    main()
