"""faster-whisper peer: transcribes .npy audio sent as JSON lines, answers with JSON lines.

Runs in .bench-venv (bench/setup_peers.sh), never in the project's venv. Protocol, one JSON object
per line: after loading it prints {"ready": true, "load_s": ...}; then for each request
{"audio_npy": PATH} (float32 mono 16 kHz) it prints {"text", "seconds", "cpu_s", "segments",
"max_temperature"} (the highest fallback temperature a segment needed; 0.0: greedy sufficed).
`seconds` (wall clock) and `cpu_s` (CPU time of all the runner's threads) cover transcribe() and
consuming its segment generator (where the work happens), not reading the file or the JSON
round trip. A request may add "language" (default "en"; null: detect it, and the reply adds
"language"), "task" ("transcribe" or "translate"), or "detect": true, which runs
detect_language() instead and answers {"language", "probability", "ranking": [[code, p], ...],
"seconds", "cpu_s"}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from faster_whisper import WhisperModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="CTranslate2 Whisper model folder")
    parser.add_argument("--compute-type", default="int8", help="int8, float32, ...")
    parser.add_argument("--threads", type=int, default=2, help="CTranslate2 cpu_threads")
    args = parser.parse_args()

    started = time.perf_counter()
    model = WhisperModel(args.model, device="cpu", compute_type=args.compute_type,
                         cpu_threads=args.threads, num_workers=1)
    _reply({"ready": True, "load_s": time.perf_counter() - started})
    for line in sys.stdin:
        request = json.loads(line)
        audio = np.load(request["audio_npy"]).astype(np.float32)
        if request.get("detect"):
            _reply(_detect(model, audio))
        else:
            _reply(_transcribe(model, audio, request.get("language", "en"),
                               request.get("task", "transcribe")))


def _transcribe(model: WhisperModel, audio: np.ndarray, language: str | None,
                task: str) -> dict[str, object]:
    # beam_size=1 is greedy decoding and best_of=1 one sample per fallback temperature, as
    # voxserve decodes; the rest are faster-whisper's defaults (fallback temperatures, no-speech,
    # log-prob and compression thresholds, timestamps on, no VAD filter).
    started, cpu_started = time.perf_counter(), time.process_time()
    segments, info = model.transcribe(audio, beam_size=1, best_of=1, language=language,
                                      task=task)
    done = list(segments)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    texts = [segment.text.strip() for segment in done]
    return {"text": " ".join(t for t in texts if t), "seconds": seconds, "cpu_s": cpu_s,
            "segments": len(done), "language": info.language,
            "max_temperature": max((segment.temperature or 0.0 for segment in done), default=0.0)}


def _detect(model: WhisperModel, audio: np.ndarray) -> dict[str, object]:
    """faster-whisper's detect_language with its defaults (first 30 s, one segment)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    language, probability, ranking = model.detect_language(audio)
    seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    return {"language": language, "probability": probability, "seconds": seconds,
            "cpu_s": cpu_s, "ranking": [[code, p] for code, p in ranking[:5]]}


def _reply(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
