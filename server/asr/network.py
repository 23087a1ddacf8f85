"""The exported Whisper encoder and decoder ONNX graphs, behind typed numpy calls.

The one wrapper of these graphs' ONNX Runtime sessions: the engine decodes through it, and the
exporter's parity check runs the graphs through it too (`run_encoder`, `run_decoder`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from voxserve.server.asr.contract import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
)
from voxserve.server.errors import ModelLoadError
from voxserve.server.runtime import RuntimeOptions, active_provider, create_session, run

_STEP_OUTPUTS = ("logits", "new_self_k", "new_self_v")


@dataclass(frozen=True)
class CrossCache:
    """Cross-attention keys and values of every decoder layer, one utterance window."""

    k: np.ndarray  # [n_text_layer, 1, n_frames/2, n_text_state]
    v: np.ndarray

    @property
    def n_audio_ctx(self) -> int:
        """Encoder positions in this window (mel frames / 2)."""
        return int(self.k.shape[2])


@dataclass(frozen=True)
class SelfCache:
    """Self-attention keys and values of the tokens decoded so far."""

    k: np.ndarray  # [n_text_layer, 1, n_past, n_text_state]
    v: np.ndarray

    @property
    def n_past(self) -> int:
        """Tokens already held."""
        return int(self.k.shape[2])


@dataclass(frozen=True)
class DecoderOutput:
    """Logits of the new tokens and the grown cache."""

    logits: np.ndarray  # [n_tokens, n_vocab] float32
    cache: SelfCache


def _check_names(session: ort.InferenceSession, inputs: tuple[str, ...], outputs: tuple[str, ...],
                 label: str) -> None:
    have_in = {i.name for i in session.get_inputs()}
    have_out = {o.name for o in session.get_outputs()}
    missing = [n for n in inputs if n not in have_in] + [n for n in outputs if n not in have_out]
    if missing:
        raise ModelLoadError(f"{label} graph lacks tensors {missing}")


class WhisperNetwork:
    """Runs encoder and decoder sessions; immutable and safe to share between threads."""

    def __init__(self, encoder: ort.InferenceSession, decoder: ort.InferenceSession,
                 n_text_layer: int, n_text_state: int) -> None:
        _check_names(encoder, ENCODER_INPUTS, ENCODER_OUTPUTS, "encoder")
        _check_names(decoder, DECODER_INPUTS, DECODER_OUTPUTS, "decoder")
        self._encoder = encoder
        self._decoder = decoder
        self._n_text_layer = n_text_layer
        self._n_text_state = n_text_state

    @classmethod
    def open(cls, encoder_path: Path, decoder_path: Path, runtime: RuntimeOptions,
             n_text_layer: int, n_text_state: int) -> WhisperNetwork:
        """Create both sessions; a missing or corrupt file raises ModelLoadError."""
        for path in (encoder_path, decoder_path):
            if not path.is_file():
                raise ModelLoadError(f"model file {path.name} is missing")
        try:
            encoder = create_session(encoder_path, runtime)
            decoder = create_session(decoder_path, runtime)
        except Exception as exc:  # ORT raises its own untyped errors for bad graphs
            raise ModelLoadError(f"cannot load {encoder_path.parent.name}: {exc}") from exc
        return cls(encoder, decoder, n_text_layer, n_text_state)

    @property
    def execution_provider(self) -> str:
        """Provider running the encoder (CUDA or CPU)."""
        return active_provider(self._encoder)

    def run_encoder(self, mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The encoder graph as exported: mel [batch, n_mels, n_frames] -> cross_k, cross_v."""
        k, v = run(self._encoder, list(ENCODER_OUTPUTS), {"mel": mel.astype(np.float32)})
        return k, v

    def run_decoder(self, tokens: np.ndarray, self_k: np.ndarray, self_v: np.ndarray,
                    cross_k: np.ndarray, cross_v: np.ndarray,
                    outputs: tuple[str, ...] = DECODER_OUTPUTS) -> list[np.ndarray]:
        """The decoder graph as exported, batched: `outputs` in the order asked for."""
        feeds = dict(zip(DECODER_INPUTS, (tokens, self_k, self_v, cross_k, cross_v), strict=True))
        return run(self._decoder, list(outputs), feeds)

    def encode(self, mel: np.ndarray) -> CrossCache:
        """Cross-attention cache of one window of log-mel frames [n_mels, n_frames (even)]."""
        k, v = self.run_encoder(mel[None])
        return CrossCache(k=k, v=v)

    def empty_cache(self) -> SelfCache:
        """A cache holding no tokens."""
        empty = np.zeros((self._n_text_layer, 1, 0, self._n_text_state), dtype=np.float32)
        return SelfCache(k=empty, v=empty)

    def decode(self, tokens: list[int], cache: SelfCache, cross: CrossCache) -> DecoderOutput:
        """Logits for `tokens` following the cached ones, and the cache extended by them."""
        logits, k, v = self.run_decoder(np.asarray([tokens], dtype=np.int64), cache.k, cache.v,
                                        cross.k, cross.v, _STEP_OUTPUTS)
        return DecoderOutput(logits=logits[0], cache=SelfCache(k=k, v=v))

    def attend(self, tokens: list[int], cross: CrossCache) -> tuple[np.ndarray, np.ndarray]:
        """One pass over a whole sequence: logits [n, vocab], alignment-head attention [h, n, f]."""
        empty = self.empty_cache()
        logits, attn = self.run_decoder(np.asarray([tokens], dtype=np.int64), empty.k, empty.v,
                                        cross.k, cross.v, ("logits", "cross_attn"))
        return logits[0], attn[0]
