"""The optional int8 variant: ONNX Runtime dynamic quantization of the weight matrices."""

from __future__ import annotations

import logging
from pathlib import Path

# MatMul weights carry nearly all parameters; quantizing the embedding Gather lets the tied
# token embedding (the decoder's largest tensor) be stored once in int8. Conv stays float:
# ConvInteger has no CUDA kernel.
_ENCODER_OPS = ["MatMul"]
_DECODER_OPS = ["MatMul", "Gather"]


def quantize_int8(source: Path, target: Path, decoder: bool) -> None:
    """Write an int8-weight copy of `source` (per-tensor, signed, dynamic activations)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the quantizer logs a pre-processing suggestion at WARNING for every model; it does not
    # apply to these graphs (no shape inference is needed for MatMul/Gather weights)
    quant_logger = logging.getLogger()
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            source, target, weight_type=QuantType.QInt8,
            op_types_to_quantize=_DECODER_OPS if decoder else _ENCODER_OPS,
        )
    finally:
        quant_logger.setLevel(level)
