"""PyTorch Whisper -> encoder.onnx and decoder.onnx with the contract's names and dynamic axes.

Uses torch's TorchScript-based exporter (`dynamo=False`). Both exporters of torch 2.13 give
graphs with the same parity (logits within 7e-5 of PyTorch on tiny.en), but the dynamo one
needs the onnxscript package, builds opset 18 and converts it down to 17 through a fallback,
writes weights to a separate .onnx.data file by default and took 20-30 s per graph here
against 2-5 s for this one.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from voxserve.export.whisper.model import Whisper
from voxserve.server.asr.contract import (
    DECODER_AXES,
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_AXES,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    OPSET,
)

# example sizes for tracing; every one of these axes is exported as dynamic
_EXAMPLE_FRAMES = 200
_EXAMPLE_TOKENS = 3
_EXAMPLE_PAST = 2


class EncoderGraph(nn.Module):
    """mel -> (cross_k, cross_v): the encoder plus every decoder layer's cross k/v projection."""

    def __init__(self, model: Whisper) -> None:
        super().__init__()
        self.model = model

    def forward(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.cross_kv(self.model.encoder(mel))


class DecoderGraph(nn.Module):
    """One decoder step over n_tokens new tokens with the explicit cache."""

    def __init__(self, model: Whisper) -> None:
        super().__init__()
        self.model = model
        # the graph's one copy of the tied token embedding, transposed (see TextDecoder.run)
        weight = model.decoder.token_embedding.weight.detach()
        self.embedding_t = nn.Parameter(weight.t().contiguous(), requires_grad=False)

    def forward(
        self, tokens: Tensor, self_k: Tensor, self_v: Tensor, cross_k: Tensor, cross_v: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.model.decoder.run(self.embedding_t, tokens, self_k, self_v, cross_k, cross_v)


def export_encoder(model: Whisper, path: Path) -> None:
    dims = model.dims
    mel = torch.zeros(1, dims.n_mels, _EXAMPLE_FRAMES)
    _export(EncoderGraph(model), (mel,), path, ENCODER_INPUTS, ENCODER_OUTPUTS, ENCODER_AXES)


def export_decoder(model: Whisper, path: Path) -> None:
    dims = model.dims
    layers, width = dims.n_text_layer, dims.n_text_state
    example = (
        torch.zeros(1, _EXAMPLE_TOKENS, dtype=torch.int64),
        torch.zeros(layers, 1, _EXAMPLE_PAST, width),
        torch.zeros(layers, 1, _EXAMPLE_PAST, width),
        torch.zeros(layers, 1, _EXAMPLE_FRAMES // 2, width),
        torch.zeros(layers, 1, _EXAMPLE_FRAMES // 2, width),
    )
    _export(DecoderGraph(model), example, path, DECODER_INPUTS, DECODER_OUTPUTS, DECODER_AXES)


def _export(
    module: nn.Module, example: tuple[Tensor, ...], path: Path, inputs: tuple[str, ...],
    outputs: tuple[str, ...], axes: dict[str, dict[int, str]],
) -> None:
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # the TorchScript exporter warns that it is deprecated and that traced shapes are
        # data-dependent; the parity check is what shows the dynamic axes are right
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), example, str(path), input_names=list(inputs),
            output_names=list(outputs), dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
