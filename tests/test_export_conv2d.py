"""export/conv2d.py: a 1-D convolution graph rewritten as 2-D convolutions computes the same."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from voxserve.export.conv2d import convolutions_as_2d


def _vocoder_like(embedding: bool = False) -> onnx.ModelProto:
    """Conv, LeakyRelu, ConvTranspose, a residual Add, a Div by a Constant, Tanh and a final
    Unsqueeze, as HiFi-GAN has them; with `embedding`, a Gather feeds the first Conv instead."""
    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)

    nodes = [
        helper.make_node("Conv", ["z", "w_pre", "b_pre"], ["pre"], kernel_shape=[7], pads=[3, 3]),
        helper.make_node("LeakyRelu", ["pre"], ["act"], alpha=0.1),
        helper.make_node("ConvTranspose", ["act", "w_up"], ["up"], kernel_shape=[4], strides=[2],
                         pads=[1, 1]),
        helper.make_node("Conv", ["up", "w_res"], ["res"], kernel_shape=[3], dilations=[3],
                         pads=[3, 3]),
        helper.make_node("Add", ["up", "res"], ["sum"]),
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(
            np.array(2.0, np.float32))),
        helper.make_node("Div", ["sum", "two"], ["half"]),
        helper.make_node("Conv", ["half", "w_post"], ["post"], kernel_shape=[7], pads=[3, 3]),
        helper.make_node("Tanh", ["post"], ["audio"]),
        helper.make_node("Constant", [], ["axis"], value=numpy_helper.from_array(
            np.array([1], np.int64))),
        helper.make_node("Unsqueeze", ["audio", "axis"], ["output"]),
    ]
    initializers = [weight("w_pre", 8, 4, 7), weight("b_pre", 8), weight("w_up", 8, 4, 4),
                    weight("w_res", 4, 4, 3), weight("w_post", 1, 4, 7)]
    if embedding:
        nodes.insert(0, helper.make_node("Gather", ["table", "sid"], ["z"]))
        initializers.append(weight("table", 2, 4, 5))
        inputs = [helper.make_tensor_value_info("sid", TensorProto.INT64, [1])]
    else:
        inputs = [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4, "frames"])]
    graph = helper.make_graph(nodes, "vocoder", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT,
                                                            [1, 1, 1, "samples"])],
                              initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, z: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"z": z})[0])


def test_the_2d_graph_computes_what_the_1d_graph_does() -> None:
    model = _vocoder_like()
    rewritten = convolutions_as_2d(model)
    weights = {i.name: i for i in rewritten.graph.initializer}
    convolutions = [n for n in rewritten.graph.node if n.op_type in ("Conv", "ConvTranspose")]
    assert [len(weights[n.input[1]].dims) for n in convolutions] == [4, 4, 4, 4]
    z = np.random.default_rng(1).standard_normal((1, 4, 37)).astype(np.float32)
    before, after = _run(model, z), _run(rewritten, z)
    assert before.shape == after.shape == (1, 1, 1, 74)
    np.testing.assert_allclose(after, before, atol=1e-6)
    assert [len(i.dims) for i in model.graph.initializer] == [3, 1, 3, 3, 3]  # input untouched


def test_a_graph_reading_more_than_its_inputs_stays_1d() -> None:
    with pytest.raises(ValueError, match="reads z, neither a graph input"):
        convolutions_as_2d(_vocoder_like(embedding=True))
