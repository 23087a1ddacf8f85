"""Language bench: voxserve's language identification and multilingual recognition against
faster-whisper on the same multilingual Whisper base weights and the same real recordings.

Run from the repository root:  .venv/bin/python -m bench.language
Clips: Debian's Asterisk prompts (US English, Mexican Spanish, Canadian French; human speakers,
8 kHz telephony) spread over each language's list, and ../shared/speech/multilingual.mp3 cut into
10 s pieces (English 0-30 s, German 30-60 s). Prints, per language, how often each engine names
the spoken language (faster-whisper: `detect_language()`; voxserve: `identify_language()`, the
classifier, on a full 30 s window as both do) and the median time per clip; then the word error
rate of multilingual recognition (language detected, not given) on the Spanish and French
prompts; then what detecting costs voxserve's transcription (the time a stream's final waits):
the same prompts transcribed with their language given and detected.
Engines take turns on every clip, so background load on the shared cores hits both alike.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whisper_normalizer.basic import BasicTextNormalizer

from bench.asterisk import load_16k, prompts, spread
from bench.peer import REPO, PeerProcess
from bench.report import machine, median, ratio, require_model, save_json, table
from bench.support import RATE_HZ
from voxserve.export.whisper.quality import word_error_rate

MULTILINGUAL = REPO.parent / "shared" / "speech" / "multilingual.mp3"
PIECE_S = 10.0
SETTLE_S = 0.1  # idle gap between engines: lets the other one's spinning threads go to sleep


@dataclass(frozen=True)
class Clip:
    """Real speech in one known language, with its text where there is one."""

    name: str
    language: str
    audio: np.ndarray
    text: str = ""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / RATE_HZ


@dataclass(frozen=True)
class Answer:
    """What one engine said about one clip, and the time it took."""

    language: str
    text: str
    seconds: float
    cpu_s: float


def clips(per_language: int) -> list[Clip]:
    """Asterisk prompts in en, es and fr, and the 10 s pieces of multilingual.mp3."""
    found = [Clip(f"{p.language}:{p.name}", p.language, p.audio(), p.text)
             for language in ("en", "es", "fr")
             for p in spread(prompts(language), per_language)]
    audio = load_16k(MULTILINGUAL)
    piece = int(PIECE_S * RATE_HZ)
    for index, start in enumerate(range(0, len(audio) - piece // 2, piece)):
        language = "en" if start < 30 * RATE_HZ else "de"  # the README's halves
        found.append(Clip(f"multilingual.mp3 piece {index}", language,
                          audio[start:start + piece]))
    return found


def ct2_folder(scratch: Path) -> Path:
    """faster-whisper's model folder for the same weights: the split packages' model.bin parts
    joined, next to their config, tokenizer and vocabulary."""
    from voxserve.export.whisper.sources import split_model_files

    parts, assets = split_model_files("base")
    folder = scratch / "whisper-base-ct2"
    folder.mkdir()
    with (folder / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as data:
                shutil.copyfileobj(data, out)
    for name in ("config.json", "tokenizer.json", "vocabulary.json", "vocabulary.txt"):
        if (assets / name).is_file():
            shutil.copy(assets / name, folder / name)
    return folder


class Voxserve:
    """voxserve's WhisperRecognizer, loaded in-process as the server loads it."""

    name = "voxserve"

    def __init__(self, folder: Path, threads: int) -> None:
        from voxserve.server.repository import load_recognizer, read_manifest
        from voxserve.server.runtime import RuntimeOptions

        runtime = RuntimeOptions(device="cpu", intra_op_threads=threads, inter_op_threads=1)
        self._engine = load_recognizer(folder, read_manifest(folder), runtime)

    def identify(self, clip: Clip) -> Answer:
        started, cpu_started = time.perf_counter(), time.process_time()
        found = self._engine.identify_language(clip.audio)
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        language = found.ranking.best.code if found.ranking is not None else ""
        return Answer(language, "", seconds, cpu_s)

    def transcribe(self, clip: Clip, language: str | None = None) -> Answer:
        from voxserve.server.asr.types import TranscribeOptions

        started, cpu_started = time.perf_counter(), time.process_time()
        transcript = self._engine.transcribe(clip.audio, TranscribeOptions(language=language))
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        return Answer(transcript.language, transcript.text, seconds, cpu_s)


class FasterWhisper:
    """faster-whisper in the bench venv; audio handed over as .npy files."""

    def __init__(self, model: Path, compute_type: str, threads: int, scratch: Path) -> None:
        self._peer = PeerProcess("faster_whisper_runner.py", "--model", str(model),
                                 "--compute-type", compute_type, "--threads", str(threads))
        self._scratch = scratch
        self.name = f"faster-whisper {compute_type}"

    def _npy(self, clip: Clip) -> str:
        path = self._scratch / f"{hashlib.sha1(clip.audio.tobytes()).hexdigest()}.npy"
        if not path.exists():
            np.save(path, clip.audio)
        return str(path)

    def identify(self, clip: Clip) -> Answer:
        reply = self._peer.request(audio_npy=self._npy(clip), detect=True)
        return Answer(str(reply["language"]), "", float(reply["seconds"]),
                      float(reply["cpu_s"]))

    def transcribe(self, clip: Clip) -> Answer:
        reply = self._peer.request(audio_npy=self._npy(clip), language=None)
        return Answer(str(reply["language"]), str(reply["text"]), float(reply["seconds"]),
                      float(reply["cpu_s"]))

    def close(self) -> None:
        self._peer.close()


def identification_rows(names: Sequence[str], found: list[tuple[Clip, dict[str, Answer]]]
                        ) -> list[list[object]]:
    """Per language: clips, each engine's share correct and median seconds, and the ratio."""
    rows: list[list[object]] = []
    for language in ("en", "es", "fr", "de", None):
        chosen = [(c, a) for c, a in found if language is None or c.language == language]
        row: list[object] = [language or "all", len(chosen)]
        row += [f"{100 * np.mean([a[n].language == c.language for c, a in chosen]):.1f}"
                for n in names]
        seconds = [median([a[n].seconds for _, a in chosen]) for n in names]
        rows.append([*row, *seconds, ratio(seconds[0], seconds[1])])
    return rows


def wer_rows(names: Sequence[str], found: list[tuple[Clip, dict[str, Answer]]]
             ) -> list[list[object]]:
    """Per language: WER % of each engine (Whisper's basic normaliser, diacritics removed: the
    Spanish texts are written without accents), share detected right, median seconds."""
    normalise = BasicTextNormalizer(remove_diacritics=True)
    rows: list[list[object]] = []
    for language in ("es", "fr"):
        chosen = [(c, a) for c, a in found if c.language == language]
        references = [normalise(c.text) for c, _ in chosen]
        row: list[object] = [language, len(chosen)]
        for name in names:
            hypotheses = [normalise(a[name].text) for _, a in chosen]
            row.append(f"{100 * word_error_rate(references, hypotheses):.1f}")
        row += [f"{100 * np.mean([a[n].language == c.language for c, a in chosen]):.1f}"
                for n in names]
        seconds = [median([a[n].seconds for _, a in chosen]) for n in names]
        rows.append([*row, *seconds, ratio(seconds[0], seconds[1])])
    return rows


def detection_cost(voxserve: Voxserve, spoken: list[Clip]) -> list[list[object]]:
    """Median seconds per prompt of voxserve's transcription with the language given and
    detected (each prompt both ways, in turn), and the difference in milliseconds."""
    given, detected = [], []
    for clip in spoken:
        given.append(voxserve.transcribe(clip, clip.language).seconds)
        detected.append(voxserve.transcribe(clip).seconds)
    differences = [d - g for g, d in zip(given, detected, strict=True)]
    return [[len(spoken), median(given), median(detected), f"{1000 * median(differences):.0f}"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "whisper-base",
                        help="voxserve model folder (default models/whisper-base)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads, both engines")
    parser.add_argument("--per-language", type=int, default=30,
                        help="Asterisk prompts per language (spread over the list)")
    parser.add_argument("--compute-type", default="float32",
                        help="faster-whisper compute type (float32: the weights as exported)")
    parser.add_argument("--json", type=Path, help="also write raw results here")
    args = parser.parse_args()

    require_model(args.model)
    selected = clips(args.per_language)
    print(f"machine: {machine()}")
    print(f"threads: {args.threads} per engine; voxserve {args.model}; faster-whisper "
          f"{args.compute_type} on the same base weights (beam_size=1); {len(selected)} clips\n")
    with tempfile.TemporaryDirectory(prefix="voxserve-bench-") as scratch:
        voxserve = Voxserve(args.model, args.threads)
        peer = FasterWhisper(ct2_folder(Path(scratch)), args.compute_type, args.threads,
                             Path(scratch))
        engines = (voxserve, peer)
        names = [e.name for e in engines]
        try:
            for engine in engines:  # warm-up: first calls allocate buffers and pick kernels
                engine.identify(selected[0])
            identified = [(c, _turns(engines, "identify", c)) for c in selected]
            spoken = [c for c in selected if c.text and c.language in ("es", "fr")]
            transcribed = [(c, _turns(engines, "transcribe", c)) for c in spoken]
            cost_rows = detection_cost(voxserve, spoken)
        finally:
            peer.close()
    print("Language identification: % of clips whose language is named right, median s per "
          "clip, ratio voxserve / faster-whisper (below 1.00: voxserve faster):\n")
    print(table(["language", "clips", *(f"{n} %" for n in names), *(f"{n} s" for n in names),
                 "ratio"], identification_rows(names, identified)))
    misses = [f"{c.name} ({c.duration_s:.1f} s): " + ", ".join(
        f"{n} {a[n].language}" for n in names) for c, a in identified
        if any(a[n].language != c.language for n in names)]
    print("\nmissed: " + ("; ".join(misses) if misses else "none"))
    print("\nMultilingual recognition (language detected per request) of the prompts: WER %, "
          "% detected right, median s per prompt, ratio:\n")
    print(table(["language", "prompts", *(f"{n} WER %" for n in names),
                 *(f"{n} lang %" for n in names), *(f"{n} s" for n in names), "ratio"],
                wer_rows(names, transcribed)))
    print("\nWhat detection adds to voxserve's transcription of an utterance (a stream's final): "
          "median s per prompt with the language given and detected, median difference ms:\n")
    print(table(["prompts", "given s", "detected s", "added ms"], cost_rows))
    save_json(args.json, {
        "machine": machine(), "threads": args.threads,
        "identify": [{"clip": c.name, "language": c.language, "duration_s": c.duration_s,
                      **{n: a[n].__dict__ for n in names}} for c, a in identified],
        "transcribe": [{"clip": c.name, "text": c.text, **{n: a[n].__dict__ for n in names}}
                       for c, a in transcribed],
    })


def _turns(engines: Sequence[Voxserve | FasterWhisper], task: str, clip: Clip
           ) -> dict[str, Answer]:
    answers = {}
    for engine in engines:
        time.sleep(SETTLE_S)
        answers[engine.name] = getattr(engine, task)(clip)
    return answers


if __name__ == "__main__":
    main()
