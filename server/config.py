"""ServerConfig: the operator's choices (port, devices, limits, security, VAD), validated once."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from voxserve.server.cores import Sizing, sizing, usable_cores
from voxserve.server.errors import InvalidArgument
from voxserve.server.runtime import Device, RuntimeOptions
from voxserve.server.streaming.settings import (
    ENDPOINTING,
    INTERIM_INTERVAL_MS,
    SILERO_THRESHOLD,
    Detector,
    EndpointingOptions,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Everything `voxserve serve` is told; built in `__main__` from flags and VOXSERVE_* env."""

    host: str = "0.0.0.0"
    port: int = 50051
    models_dir: Path = Path("models")
    default_recognizer: str = ""  # "" = first single-language recognizer by name, else first
    default_voice: str = ""  # "" = first voice by name
    # graphs to run where a model was exported with them: "float32", "int8"; "" = the device's
    # default (int8 on CPU, float32 on CUDA; float32 where a model has no such variant)
    model_variant: str = ""
    device: Device = "auto"
    # 0: sized from the cores this process may use (cores.py); a set value wins.
    intra_op_threads: int = 0
    inter_op_threads: int = 1
    inference_workers: int = 0
    voice_memory_arena: bool = False  # arena kept between runs: faster, memory kept
    grace_s: float = 30.0
    # Limits: requests past these are refused with a message naming the limit.
    max_audio_bytes: int = 32 * MIB  # one Recognize request's audio
    max_message_audio_bytes: int = 1 * MIB  # one StreamingRecognize audio message
    max_stream_duration_s: float = 3600.0
    stream_idle_timeout_s: float = 30.0  # no audio for this long ends a stream
    speech_idle_timeout_s: float = 300.0  # audio without speech for this long ends a stream
    first_message_timeout_s: float = 10.0
    max_text_bytes: int = 4096  # Synthesize
    max_streaming_text_bytes: int = 65536  # StreamingSynthesize
    max_synthesis_bytes: int = 4 * MIB - 64 * 1024  # a Synthesize response, under 4 MiB clients
    max_streams: int = 32  # concurrent StreamingRecognize + Recognize calls
    max_synthesis_calls: int = 16  # concurrent Synthesize + StreamingSynthesize calls
    # Live recognition defaults (clients may override per stream but silero_threshold); the
    # ranges and defaults are server/streaming/settings.py's table.
    vad: str = Detector.WEBRTC.value
    vad_aggressiveness: int = ENDPOINTING["vad_aggressiveness"].default
    min_silence_ms: int = ENDPOINTING["min_silence_ms"].default
    silero_threshold: float = SILERO_THRESHOLD
    interim_interval_ms: int = INTERIM_INTERVAL_MS.default
    # Connections. Keepalive pings find dead peers behind NATs and load balancers; a maximum
    # connection age makes clients reconnect now and then, so new replicas get traffic.
    keepalive_time_s: float = 30.0
    keepalive_timeout_s: float = 10.0
    max_connection_age_s: float = 1800.0  # 0 = connections live for ever
    max_connection_age_grace_s: float | None = None  # None = max_stream_duration_s
    # Security. Keys come from a file (one a line) and/or VOXSERVE_API_KEYS (comma separated;
    # no flag, so keys never show in `ps`). With keys set, every RPC but health needs one.
    api_keys_file: Path | None = None
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    tls_cert_file: Path | None = None  # PEM certificate chain; with tls_key_file turns TLS on
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None  # set: clients must show a certificate it signed
    allow_insecure_tokens: bool = False  # tokens over plaintext (TLS ends at a proxy in front)
    # Observability.
    metrics_port: int = 0  # Prometheus endpoint on host:metrics_port; 0 = off
    replica_id: str = ""  # sent as x-voxserve-replica; "" = hostname:port

    @property
    def endpointing(self) -> EndpointingOptions:
        """The server's endpointing settings; each stream's request overrides what it sets."""
        return EndpointingOptions(
            detector=Detector(self.vad),
            vad_aggressiveness=self.vad_aggressiveness,
            min_silence_ms=self.min_silence_ms,
            silero_threshold=self.silero_threshold,
        )

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.inference_workers < 0:
            raise ValueError("inference_workers must be >= 1, or 0 to size it from the cores")
        if self.stream_idle_timeout_s <= 0 or self.speech_idle_timeout_s <= 0:
            raise ValueError("stream_idle_timeout_s and speech_idle_timeout_s must be > 0")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if self.vad not in {detector.value for detector in Detector}:
            raise ValueError(f"vad must be webrtc or silero, not {self.vad!r}")
        try:
            self.endpointing  # noqa: B018 - built once here to validate the VAD settings
            INTERIM_INTERVAL_MS.check("interim_interval_ms", self.interim_interval_ms)
        except InvalidArgument as exc:  # the operator's mistake, not a client's
            raise ValueError(str(exc).removeprefix("endpointing.")) from None
        for name in ("max_audio_bytes", "max_message_audio_bytes", "max_text_bytes",
                     "max_streaming_text_bytes", "max_synthesis_bytes", "max_streams",
                     "max_synthesis_calls"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        self._check_connections()
        self._check_security()

    def _check_connections(self) -> None:
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be 0..65535, not {self.metrics_port}")
        if self.metrics_port and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port")
        if self.keepalive_time_s < 1 or self.keepalive_timeout_s < 1:
            raise ValueError("keepalive_time_s and keepalive_timeout_s must be >= 1")
        if self.max_connection_age_s < 0:
            raise ValueError("max_connection_age_s must be >= 0 (0: unlimited)")
        if self.max_connection_age_grace_s is not None and self.max_connection_age_grace_s < 0:
            raise ValueError("max_connection_age_grace_s must be >= 0")

    def _check_security(self) -> None:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file must be given together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file (mutual TLS) needs tls_cert_file and tls_key_file")
        if any(not key.strip() for key in self.api_keys):
            raise ValueError("api_keys must not contain empty keys")
        if self.tokens_required and not self.tls and not self.allow_insecure_tokens:
            raise ValueError(
                "API keys are configured but TLS is off, so keys would cross the network in "
                "plaintext: set --tls-cert-file and --tls-key-file, or --allow-insecure-tokens "
                "when TLS ends at a proxy in front of the server"
            )

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def tokens_required(self) -> bool:
        return bool(self.api_keys) or self.api_keys_file is not None

    @property
    def connection_age_grace_s(self) -> float:
        """How long a connection past its age may finish its calls: the longest stream."""
        if self.max_connection_age_grace_s is None:
            return self.max_stream_duration_s
        return self.max_connection_age_grace_s

    @functools.cached_property
    def sizing(self) -> Sizing:
        """Workers and threads for the cores this process may use (read once)."""
        return sizing(usable_cores())

    @property
    def workers(self) -> int:
        """Inference workers: the flag's, or sized from the cores."""
        return self.inference_workers or self.sizing.inference_workers

    @property
    def runtime(self) -> RuntimeOptions:
        threads = self.intra_op_threads or self.sizing.intra_op_threads
        return RuntimeOptions(self.device, threads, self.inter_op_threads,
                              self.voice_memory_arena)
