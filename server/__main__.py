"""`voxserve serve` / `python -m voxserve.server`: flags and VOXSERVE_* env -> config -> serve."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from voxserve.server.config import ServerConfig
from voxserve.server.errors import VoxserveError
from voxserve.server.streaming.settings import Detector

HELP = {
    "host": "address to bind",
    "port": "port to bind (0 picks a free one)",
    "models_dir": "model repository: one folder per model, each with a manifest.json",
    "default_recognizer": "recognizer used when a request names no model and no language it "
    "lacks (default: the first English-only one by name, else the first by name)",
    "default_voice": "voice used when a request names none (default: first by name)",
    "model_variant": "graphs to run where a model was exported with them: float32 or int8 "
    "(default: int8 on CPU, float32 on CUDA)",
    "device": "auto (CUDA when a GPU is usable, else CPU), cpu or cuda",
    "intra_op_threads": "ONNX Runtime threads inside one operator (0: usable cores divided by "
    "the workers, at least 1)",
    "inter_op_threads": "ONNX Runtime threads across operators",
    "voice_memory_arena": "keep each voice's ONNX Runtime memory arena between runs instead of "
    "shrinking it after each sentence: 10-20 %% less synthesis CPU, but the "
    "server keeps the memory of its longest sentences for good",
    "inference_workers": "threads running model calls concurrently (0: one per usable core, "
    "2 to 8; usable: the affinity mask capped by the cgroup CPU quota)",
    "grace_s": "seconds open calls get to finish after SIGTERM/SIGINT",
    "max_audio_bytes": "largest Recognize audio",
    "max_message_audio_bytes": "largest audio message in StreamingRecognize",
    "max_stream_duration_s": "longest StreamingRecognize stream",
    "stream_idle_timeout_s": "a stream sending no audio for this long is ended",
    "speech_idle_timeout_s": "a stream whose audio has had no speech for this many seconds is "
    "ended (after its final results)",
    "first_message_timeout_s": "a stream must send its config within this time",
    "max_text_bytes": "largest Synthesize text (UTF-8 bytes)",
    "max_streaming_text_bytes": "largest StreamingSynthesize text (UTF-8 bytes)",
    "max_synthesis_bytes": "largest Synthesize response audio (keep under clients' 4 MiB)",
    "max_streams": "concurrent recognition calls; more are refused with RESOURCE_EXHAUSTED",
    "max_synthesis_calls": "concurrent synthesis calls; more are refused with RESOURCE_EXHAUSTED",
    "vad": "default voice activity detector: webrtc or silero",
    "vad_aggressiveness": "default WebRTC VAD aggressiveness, 0..3",
    "min_silence_ms": "default silence that ends an utterance, 100..10000 ms",
    "silero_threshold": "Silero VAD speech probability threshold, 0.15..1 (exclusive)",
    "interim_interval_ms": "default interval between interim results, ms of audio",
    "keepalive_time_s": "seconds between keepalive pings to each client",
    "keepalive_timeout_s": "a client not answering a ping within this is disconnected",
    "max_connection_age_s": "clients are asked to reconnect after this (spreads load over new "
    "replicas); 0: never",
    "max_connection_age_grace_s": "calls on a connection past its age get this long to finish "
    "(None: --max-stream-duration-s)",
    "api_keys_file": "file of API keys, one a line (# comments); with keys set, every call but "
    "health needs `authorization: Bearer KEY` or `x-api-key: KEY`",
    "tls_cert_file": "PEM certificate chain; with --tls-key-file serves TLS",
    "tls_key_file": "PEM private key of --tls-cert-file",
    "tls_client_ca_file": "PEM CA bundle: clients must present a certificate it signed (mTLS)",
    "allow_insecure_tokens": "accept API keys without TLS (only when TLS ends at a proxy in front)",
    "metrics_port": "Prometheus metrics over HTTP on this port (/metrics); 0: off",
    "replica_id": "name sent in x-voxserve-replica response metadata (empty: hostname:port)",
}
CHOICES = {"device": ("auto", "cpu", "cuda"), "vad": tuple(d.value for d in Detector)}
ENV_ONLY = {"api_keys"}  # secrets: from the environment only, never a flag visible in `ps`
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _env_name(field: str) -> str:
    return "VOXSERVE_" + field.upper()


def _parse_bool(text: str) -> bool:
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def _value_type(field: dataclasses.Field[Any]) -> Callable[[str], Any]:
    """The parser of one field's text: its annotation, with `X | None` read as X."""
    hint = typing.get_type_hints(ServerConfig)[field.name]
    if type(None) in typing.get_args(hint):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if hint is bool:
        return _parse_bool
    if typing.get_origin(hint) is typing.Literal:
        return str
    return cast(Callable[[str], Any], hint)


def _env_default(field: dataclasses.Field[Any], env: Mapping[str, str]) -> Any:
    name = _env_name(field.name)
    if name not in env:
        return field.default
    try:
        return _value_type(field)(env[name])
    except ValueError as exc:
        raise ValueError(f"{name}={env[name]!r}: {exc}") from None


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxserve serve",
        description="Serve speech recognition and synthesis over gRPC. Every flag can also be "
        "set by the environment variable named in its help; flags win. API keys: "
        "--api-keys-file and/or VOXSERVE_API_KEYS (comma separated).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for field in dataclasses.fields(ServerConfig):
        if field.name in ENV_ONLY:
            continue
        kind = _value_type(field)
        flag = "--" + field.name.replace("_", "-")
        help_text = f"{HELP[field.name]} [env {_env_name(field.name)}]"
        default = _env_default(field, env)
        if kind is _parse_bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        parser.add_argument(flag, type=kind, default=default, choices=CHOICES.get(field.name),
                            help=help_text)
    parser.add_argument("--log-level", default=env.get("VOXSERVE_LOG_LEVEL", "INFO"),
                        help="logging level [env VOXSERVE_LOG_LEVEL]")
    parser.add_argument("--log-format", default=env.get("VOXSERVE_LOG_FORMAT", "text"),
                        choices=("text", "json"),
                        help="text lines, or one JSON object per line [env VOXSERVE_LOG_FORMAT]")
    return parser


def api_keys_from(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(key.strip() for key in env.get("VOXSERVE_API_KEYS", "").split(",") if key.strip())


def config_from(argv: Sequence[str] | None, env: Mapping[str, str]) -> tuple[ServerConfig, str]:
    config, log_level, _ = options_from(argv, env)
    return config, log_level


def options_from(argv: Sequence[str] | None, env: Mapping[str, str]
                 ) -> tuple[ServerConfig, str, str]:
    """ServerConfig, log level and log format from the command line and the environment."""
    args = vars(build_parser(env).parse_args(argv))
    log_level, log_format = args.pop("log_level"), args.pop("log_format")
    return ServerConfig(**args, api_keys=api_keys_from(env)), log_level, log_format


def setup_logging(level: str, log_format: str) -> None:
    from voxserve.server.servicers.requestlog import JsonFormatter, RequestIdFilter

    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config, log_level, log_format = options_from(argv, os.environ)
    except ValueError as exc:
        print(f"voxserve serve: {exc}", file=sys.stderr)
        return 2
    setup_logging(log_level, log_format)
    from voxserve.server.app import serve  # grpc and onnxruntime load only when serving

    try:
        return asyncio.run(serve(config))
    except ValueError as exc:  # unreadable or empty key / certificate files
        logging.getLogger("voxserve").error("%s", exc)
        return 2
    except (VoxserveError, OSError) as exc:
        # Start-up failures the operator can fix: a port in use, a broken model repository.
        # No traceback: the message names the problem.
        logging.getLogger("voxserve").error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
