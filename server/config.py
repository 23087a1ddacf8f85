"""ServerConfig: the operator's choices (port, devices, limits, VAD defaults), validated once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from voxserve.server.runtime import Device, RuntimeOptions

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """Everything `voxserve serve` is told; built in `__main__` from flags and VOXSERVE_* env."""

    host: str = "0.0.0.0"
    port: int = 50051
    models_dir: Path = Path("models")
    default_recognizer: str = ""  # "" = first recognizer by name
    default_voice: str = ""  # "" = first voice by name
    device: Device = "auto"
    intra_op_threads: int = 0
    inter_op_threads: int = 1
    inference_workers: int = 4
    grace_s: float = 30.0
    # Limits: requests past these are refused with a message naming the limit.
    max_audio_bytes: int = 32 * MIB  # one Recognize request's audio
    max_message_audio_bytes: int = 1 * MIB  # one StreamingRecognize audio message
    max_stream_duration_s: float = 3600.0
    stream_idle_timeout_s: float = 30.0  # no audio for this long ends a stream
    first_message_timeout_s: float = 10.0
    max_text_bytes: int = 4096  # Synthesize
    max_streaming_text_bytes: int = 65536  # StreamingSynthesize
    max_synthesis_bytes: int = 4 * MIB - 64 * 1024  # a Synthesize response, under 4 MiB clients
    max_streams: int = 32  # concurrent StreamingRecognize + Recognize calls
    max_synthesis_calls: int = 16  # concurrent Synthesize + StreamingSynthesize calls
    # Live recognition defaults (clients may override per stream).
    vad: str = "webrtc"
    vad_aggressiveness: int = 2
    interim_interval_ms: int = 500

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if self.inference_workers < 1:
            raise ValueError("inference_workers must be >= 1")
        if self.grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        if self.vad not in ("webrtc", "silero"):
            raise ValueError(f"vad must be webrtc or silero, not {self.vad!r}")
        if not 0 <= self.vad_aggressiveness <= 3:
            raise ValueError("vad_aggressiveness must be 0..3")
        if not 100 <= self.interim_interval_ms <= 5000:
            raise ValueError("interim_interval_ms must be 100..5000")
        for name in ("max_audio_bytes", "max_message_audio_bytes", "max_text_bytes",
                     "max_streaming_text_bytes", "max_synthesis_bytes", "max_streams",
                     "max_synthesis_calls"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")

    @property
    def runtime(self) -> RuntimeOptions:
        return RuntimeOptions(self.device, self.intra_op_threads, self.inter_op_threads)

    @property
    def max_receive_message_bytes(self) -> int:
        """gRPC's inbound message cap: the largest Recognize request plus room for its config."""
        return max(self.max_audio_bytes, self.max_message_audio_bytes) + 64 * 1024
