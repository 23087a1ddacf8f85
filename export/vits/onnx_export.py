"""The ONNX graph of a Synthesizer, with exactly the inputs and outputs Piper's voices have.

Inputs: `input` int64 [batch, phonemes], `input_lengths` int64 [batch], `scales` float32 [3] =
(noise_scale, length_scale, noise_w), and `sid` int64 [1] for multi-speaker voices. Output:
`output` float32 [batch, 1, 1, samples] (Piper unsqueezes the generator's [b, 1, samples]).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import Tensor, nn

from voxserve.export.vits.model import Synthesizer
from voxserve.export.voice_folder import graph_inputs

# Piper exports with opset 15 (piper_train/export_onnx.py); ONNX Runtime and Piper's own
# runtimes are known to run it.
OPSET_VERSION = 15
# Piper traces with 50 ids; the output length is computed in the graph, not fixed at trace time.
TRACE_IDS = 50
TRACE_SEED = 1234


class PiperInterface(nn.Module):
    """The call signature of Piper's exported graph, around Synthesizer.infer."""

    def __init__(self, model: Synthesizer) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, ids: Tensor, id_lengths: Tensor, scales: Tensor, sid: Tensor | None = None
    ) -> Tensor:
        audio = self.model.infer(ids, id_lengths, noise_scale=scales[0], length_scale=scales[1],
                                 noise_w=scales[2], sid=sid)
        return audio.unsqueeze(1)


def export_onnx(model: Synthesizer, path: Path) -> None:
    """Trace the model into `path` (the legacy TorchScript exporter, as Piper uses)."""
    generator = torch.Generator().manual_seed(TRACE_SEED)
    ids = torch.randint(0, model.config.num_symbols, (1, TRACE_IDS), generator=generator)
    args: tuple[Tensor, ...] = (
        ids, torch.tensor([TRACE_IDS]), torch.tensor([0.667, 1.0, 0.8], dtype=torch.float32)
    )
    if model.config.is_multispeaker:
        args = (*args, torch.tensor([0]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The tracer warns about Python ints taken from tensor sizes (the relative-attention
        # window) and torch that this exporter is legacy. Parity at several lengths covers the
        # first; Piper's own voices come from this exporter, so its graph is what we match.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PiperInterface(model).eval(),
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET_VERSION,
            input_names=graph_inputs(model.config.num_speakers),
            output_names=["output"],
            dynamic_axes={
                "input": {0: "batch_size", 1: "phonemes"},
                "input_lengths": {0: "batch_size"},
                "output": {0: "batch_size", 3: "time"},
            },
        )
    onnx.checker.check_model(str(path))
