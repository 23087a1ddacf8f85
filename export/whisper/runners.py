"""Two ways to run an exported Whisper step by step: the PyTorch module and the ONNX graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from voxserve.export.whisper.model import Whisper

Array = np.ndarray
DecoderStep = tuple[Array, Array, Array, Array]  # logits, new_self_k, new_self_v, cross_attn


class WhisperRunner(Protocol):
    """Encoder and decoder steps with the ONNX contract's shapes, on numpy arrays."""

    n_text_layer: int
    n_text_state: int

    def encode(self, mel: Array) -> tuple[Array, Array]: ...

    def decode(self, tokens: Array, self_k: Array, self_v: Array, cross_k: Array,
               cross_v: Array) -> DecoderStep: ...


class TorchRunner:
    """The reference: the PyTorch module, in float32, without gradients."""

    def __init__(self, model: Whisper) -> None:
        self._model = model.eval()
        self.n_text_layer = model.dims.n_text_layer
        self.n_text_state = model.dims.n_text_state

    @torch.inference_mode()
    def encode(self, mel: Array) -> tuple[Array, Array]:
        features = self._model.encoder(torch.from_numpy(mel))
        keys, values = self._model.cross_kv(features)
        return keys.numpy(), values.numpy()

    @torch.inference_mode()
    def decode(self, tokens: Array, self_k: Array, self_v: Array, cross_k: Array,
               cross_v: Array) -> DecoderStep:
        outputs = self._model.decoder(*(torch.from_numpy(a) for a in
                                        (tokens, self_k, self_v, cross_k, cross_v)))
        return tuple(t.numpy() for t in outputs)  # type: ignore[return-value]


class OrtRunner:
    """The exported encoder.onnx / decoder.onnx pair on the CPU, through the engine's own
    wrapper of their sessions (server/asr/network.py), so parity checks what the server runs."""

    def __init__(self, encoder_path: Path, decoder_path: Path, n_text_layer: int,
                 n_text_state: int) -> None:
        from voxserve.server.asr.network import WhisperNetwork
        from voxserve.server.runtime import RuntimeOptions

        self._network = WhisperNetwork.open(encoder_path, decoder_path,
                                            RuntimeOptions(device="cpu"), n_text_layer,
                                            n_text_state)
        self.n_text_layer = n_text_layer
        self.n_text_state = n_text_state

    def encode(self, mel: Array) -> tuple[Array, Array]:
        return self._network.run_encoder(mel)

    def decode(self, tokens: Array, self_k: Array, self_v: Array, cross_k: Array,
               cross_v: Array) -> DecoderStep:
        logits, new_k, new_v, attn = self._network.run_decoder(tokens, self_k, self_v, cross_k,
                                                               cross_v)
        return logits, new_k, new_v, attn


def empty_cache(runner: WhisperRunner, batch: int = 1) -> Array:
    """A self-attention cache with no tokens: [layers, batch, 0, d]."""
    return np.zeros((runner.n_text_layer, batch, 0, runner.n_text_state), dtype=np.float32)
