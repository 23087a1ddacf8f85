"""piper-tts peer: synthesizes text sent as JSON lines, answers with timings as JSON lines.

Runs in .bench-venv (bench/setup_peers.sh), never in the project's venv. Protocol, one JSON object
per line: after loading it prints {"ready": true, "load_s": ...}; then for each request
{"text": ..., "out_npy": PATH or null} it prints {"first_chunk_s", "total_s", "cpu_s",
"audio_s", "sample_rate_hz", "sentences"}; `cpu_s` is the CPU time of all the runner's threads.
piper-tts yields one chunk per sentence, so `first_chunk_s` is the time to the first sentence's
audio. With `out_npy` the float32 audio is saved there (after the clock stops) so the bench can
check that the speech is intelligible.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime
from piper import PiperVoice
from piper.config import PiperConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="Piper voice .onnx")
    parser.add_argument("--config", required=True, help="its .onnx.json")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    args = parser.parse_args()

    started = time.perf_counter()
    voice = _load(Path(args.model), Path(args.config), args.threads)
    _reply({"ready": True, "load_s": time.perf_counter() - started})
    for line in sys.stdin:
        request = json.loads(line)
        _reply(_synthesize(voice, request["text"], request.get("out_npy")))


def _load(model: Path, config: Path, threads: int) -> PiperVoice:
    # PiperVoice.load() takes ONNX Runtime's default thread count; the session is built here the
    # same way (CPU provider, default optimisation level) but with voxserve's thread count.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session,
                      config=PiperConfig.from_dict(json.loads(config.read_text())))


def _synthesize(voice: PiperVoice, text: str, out_npy: str | None) -> dict[str, object]:
    started, cpu_started = time.perf_counter(), time.process_time()
    first_chunk_s = 0.0
    chunks: list[np.ndarray] = []
    for chunk in voice.synthesize(text):
        if not chunks:
            first_chunk_s = time.perf_counter() - started
        chunks.append(chunk.audio_float_array)
    total_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if out_npy:
        np.save(out_npy, audio.astype(np.float32))
    rate_hz = voice.config.sample_rate
    return {"first_chunk_s": first_chunk_s, "total_s": total_s, "cpu_s": cpu_s,
            "audio_s": len(audio) / rate_hz, "sample_rate_hz": rate_hz, "sentences": len(chunks)}


def _reply(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
