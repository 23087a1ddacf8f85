"""The optional int8 variant: ONNX Runtime dynamic quantization of the weight matrices."""

from __future__ import annotations

import logging
from pathlib import Path

# MatMul weights carry nearly all parameters, the decoder's tied output projection included,
# each quantized with a scale per output column (per vocabulary entry for the projection).
# The embedding Gather is not quantized by ONNX Runtime's quantizer: it would claim the shared
# weight with one per-tensor scale (tiny.en WER +1.6 points on 80 espeak-ng and Piper
# sentences); share_int8_weight() points it at the MatMul's per-column int8 copy instead.
# Conv stays float: ConvInteger has no CUDA kernel.
_OPS = ["MatMul"]


def quantize_int8(source: Path, target: Path, decoder: bool) -> None:
    """Write an int8-weight copy of `source` (per-column, signed, dynamic activations)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the quantizer logs a pre-processing suggestion at WARNING for every model; it does not
    # apply to these graphs (no shape inference is needed for MatMul/Gather weights)
    quant_logger = logging.getLogger()
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, op_types_to_quantize=_OPS,
                         per_channel=True)
    finally:
        quant_logger.setLevel(level)
    if decoder:
        share_int8_weight(target)


def share_int8_weight(path: Path) -> None:
    """Make each Gather of a float weight that a MatMul also quantized read that int8 copy:
    gather the int8 columns and their scales, then dequantize just those. The float weight is
    then dropped (tiny.en decoder.int8.onnx: 109 -> 29 MB). Dequantizing the whole weight
    instead would run at every step: ONNX Runtime does not constant-fold DequantizeLinear."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    for node in list(graph.node):
        name = node.input[0] if node.op_type == "Gather" else ""
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        quantized, scale, zero = f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"
        if axis != 1 or quantized not in initializers or len(initializers[scale].dims) != 1:
            continue  # only a [d, n] weight quantized per column, gathered by column
        index, out = node.input[1], node.output[0]
        at = list(graph.node).index(node)
        graph.node.remove(node)
        for offset, new_node in enumerate([
            helper.make_node("Gather", [quantized, index], [f"{out}_int8"], axis=1),
            helper.make_node("Gather", [scale, index], [f"{out}_scale"], axis=0),
            helper.make_node("Gather", [zero, index], [f"{out}_zero_point"], axis=0),
            helper.make_node("DequantizeLinear",
                             [f"{out}_int8", f"{out}_scale", f"{out}_zero_point"], [out], axis=1),
        ]):
            graph.node.insert(at + offset, new_node)
        if not any(name in n.input for n in graph.node):
            graph.initializer.remove(initializers[name])
    onnx.save(model, str(path))
