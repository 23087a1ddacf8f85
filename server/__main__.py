"""`voxserve serve` / `python -m voxserve.server`: flags and VOXSERVE_* env -> ServerConfig -> serve."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from voxserve.server.config import ServerConfig
from voxserve.server.errors import VoxserveError

HELP = {
    "host": "address to bind",
    "port": "port to bind (0 picks a free one)",
    "models_dir": "model repository: one folder per model, each with a manifest.json",
    "default_recognizer": "recognizer used when a request names none (default: first by name)",
    "default_voice": "voice used when a request names none (default: first by name)",
    "device": "auto (CUDA when a GPU is usable, else CPU), cpu or cuda",
    "intra_op_threads": "ONNX Runtime threads inside one operator (0: one per core)",
    "inter_op_threads": "ONNX Runtime threads across operators",
    "inference_workers": "threads running model calls concurrently",
    "grace_s": "seconds open calls get to finish after SIGTERM/SIGINT",
    "max_audio_bytes": "largest Recognize audio",
    "max_message_audio_bytes": "largest audio message in StreamingRecognize",
    "max_stream_duration_s": "longest StreamingRecognize stream",
    "stream_idle_timeout_s": "a stream sending no audio for this long is ended",
    "first_message_timeout_s": "a stream must send its config within this time",
    "max_text_bytes": "largest Synthesize text (UTF-8 bytes)",
    "max_streaming_text_bytes": "largest StreamingSynthesize text (UTF-8 bytes)",
    "max_synthesis_bytes": "largest Synthesize response audio (keep under clients' 4 MiB)",
    "max_streams": "concurrent recognition calls; more are refused with RESOURCE_EXHAUSTED",
    "max_synthesis_calls": "concurrent synthesis calls; more are refused with RESOURCE_EXHAUSTED",
    "vad": "default voice activity detector: webrtc or silero",
    "vad_aggressiveness": "default WebRTC VAD aggressiveness, 0..3",
    "interim_interval_ms": "default interval between interim results, ms of audio",
}
CHOICES = {"device": ("auto", "cpu", "cuda"), "vad": ("webrtc", "silero")}


def _env_name(field: str) -> str:
    return "VOXSERVE_" + field.upper()


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxserve serve",
        description="Serve speech recognition and synthesis over gRPC. Every flag can also be "
        "set by the environment variable named in its help; flags win.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for field in dataclasses.fields(ServerConfig):
        kind = type(field.default) if not isinstance(field.default, Path) else Path
        default = env.get(_env_name(field.name), field.default)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=kind,
            default=kind(default),
            choices=CHOICES.get(field.name),
            help=f"{HELP[field.name]} [env {_env_name(field.name)}]",
        )
    parser.add_argument("--log-level", default=env.get("VOXSERVE_LOG_LEVEL", "INFO"),
                        help="logging level [env VOXSERVE_LOG_LEVEL]")
    return parser


def config_from(argv: Sequence[str] | None, env: Mapping[str, str]) -> tuple[ServerConfig, str]:
    args = vars(build_parser(env).parse_args(argv))
    log_level = args.pop("log_level")
    return ServerConfig(**args), log_level


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, log_level = config_from(argv, os.environ)
    except ValueError as exc:
        print(f"voxserve serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from voxserve.server.app import serve  # grpc and onnxruntime load only when serving

    try:
        return asyncio.run(serve(config))
    except VoxserveError as exc:
        logging.getLogger("voxserve").error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
