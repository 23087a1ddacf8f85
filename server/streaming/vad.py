"""Voice activity detectors: per-stream frame classifiers (WebRTC's GMM and Silero's ONNX model).

Both classify fixed-size frames of float32 mono 16 kHz audio and keep state across frames, so
each stream owns its own detector object; only Silero's ONNX session is shared by all streams.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
import webrtcvad

from voxserve.server.audio.codecs import float_to_pcm16
from voxserve.server.audio.resample import TARGET_RATE_HZ as SAMPLE_RATE_HZ
from voxserve.server.errors import ModelLoadError
from voxserve.server.runtime import RuntimeOptions, create_session
from voxserve.server.streaming.settings import (
    ENDPOINTING,
    SILERO_HYSTERESIS,
    SILERO_THRESHOLD,
    check_silero_threshold,
)

# webrtcvad takes 10, 20 or 30 ms frames; 30 ms gives its steadiest decisions.
WEBRTC_FRAME_MS = 30
# Silero v5/v6 at 16 kHz: 512-sample windows, each preceded by the previous window's last 64
# samples (silero_vad/utils_vad.py, OnnxWrapper.__call__), with a [2, batch, 128] LSTM state.
SILERO_WINDOW_SAMPLES = 512
SILERO_CONTEXT_SAMPLES = 64
SILERO_STATE_SHAPE = (2, 1, 128)
# One window per 32 ms per stream is far too small a call to pay off on a GPU.
SILERO_RUNTIME = RuntimeOptions(device="cpu", intra_op_threads=1, inter_op_threads=1)
_SILERO_INPUTS = {"input", "state", "sr"}
_SILERO_OUTPUTS = {"output", "stateN"}


class FrameClassifier(Protocol):
    """A per-stream detector: says whether each consecutive frame holds speech."""

    @property
    def frame_samples(self) -> int:
        """Samples per frame at 16 kHz; every frame passed to is_speech has exactly this many."""
        ...

    def is_speech(self, frame: np.ndarray) -> bool:
        """Classify the next frame of the stream (float32 mono 16 kHz)."""
        ...


class SileroRunner(Protocol):
    """One step of a Silero model (SileroModel; tests script it)."""

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]: ...


class WebRtcVad:
    """WebRTC's GMM detector on 30 ms frames; `aggressiveness` 0 keeps most audio as speech."""

    frame_samples = SAMPLE_RATE_HZ * WEBRTC_FRAME_MS // 1000

    def __init__(self, aggressiveness: int = ENDPOINTING["vad_aggressiveness"].default) -> None:
        ENDPOINTING["vad_aggressiveness"].check("vad_aggressiveness", aggressiveness)
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: np.ndarray) -> bool:
        _check_frame(frame, self.frame_samples)
        return bool(self._vad.is_speech(float_to_pcm16(frame), SAMPLE_RATE_HZ))


@dataclass(frozen=True)
class SileroModel:
    """The shared Silero VAD ONNX session: immutable after load, safe to run from any thread."""

    session: ort.InferenceSession = field(repr=False)
    path: Path

    @staticmethod
    def default_path() -> Path:
        """silero_vad.onnx inside the installed `silero-vad` package (not imported: it needs
        torch at import time)."""
        spec = importlib.util.find_spec("silero_vad")
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(
                "Silero VAD needs silero_vad.onnx: install `silero-vad` (pip install --no-deps"
                " silero-vad==6.2.3) or give the model's path"
            )
        return Path(spec.submodule_search_locations[0]) / "data" / "silero_vad.onnx"

    @classmethod
    def load(
        cls, path: Path | None = None, runtime: RuntimeOptions = SILERO_RUNTIME
    ) -> SileroModel:
        path = path or cls.default_path()
        if not path.is_file():
            raise ModelLoadError(f"Silero VAD model {path.name} is missing")
        try:
            session = create_session(path, runtime)
        except Exception as exc:  # ORT raises its own exception types for corrupt models
            raise ModelLoadError(f"Silero VAD model {path.name} cannot be loaded") from exc
        inputs = {i.name for i in session.get_inputs()}
        outputs = {o.name for o in session.get_outputs()}
        if inputs != _SILERO_INPUTS or outputs != _SILERO_OUTPUTS:
            raise ModelLoadError(
                f"{path.name} is not a Silero v5/v6 VAD: inputs {sorted(inputs)}, outputs"
                f" {sorted(outputs)}"
            )
        return cls(session, path)

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        """One step: `window` is context + new samples [1, 576]; returns (probability, state)."""
        probability, new_state = self.session.run(
            ["output", "stateN"],
            {"input": window, "state": state, "sr": np.array(SAMPLE_RATE_HZ, dtype=np.int64)},
        )
        return float(probability[0, 0]), new_state


class SileroVad:
    """A stream's Silero detector: the LSTM state and audio context, over a shared model."""

    frame_samples = SILERO_WINDOW_SAMPLES

    def __init__(self, model: SileroRunner, threshold: float = SILERO_THRESHOLD) -> None:
        check_silero_threshold(threshold)
        self.threshold = threshold
        self._model = model
        self._state = np.zeros(SILERO_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(SILERO_CONTEXT_SAMPLES, dtype=np.float32)
        self._speaking = False

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of the next 32 ms frame; advances the stream's state."""
        _check_frame(frame, self.frame_samples)
        window = np.concatenate([self._context, frame.astype(np.float32, copy=False)])
        probability, self._state = self._model.run(window[np.newaxis, :], self._state)
        self._context = window[-SILERO_CONTEXT_SAMPLES:]
        return probability

    def is_speech(self, frame: np.ndarray) -> bool:
        probability = self.probability(frame)
        floor = self.threshold - SILERO_HYSTERESIS if self._speaking else self.threshold
        self._speaking = probability >= floor
        return self._speaking


def _check_frame(frame: np.ndarray, samples: int) -> None:
    if frame.ndim != 1 or frame.shape[0] != samples:
        raise ValueError(f"a VAD frame is {samples} samples, not {frame.shape}")
