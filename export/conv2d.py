"""1-D convolution graphs rewritten as 2-D convolutions of height 1, for ONNX Runtime's kernels.

ONNX Runtime on x86 runs 2-D convolutions in its blocked NCHWc layout (the graph optimiser
inserts the reorders), but leaves 1-D ones to im2col + GEMM. A HiFi-GAN vocoder is 1-D
convolutions, transposed convolutions and element-wise ops; given an extra axis of size 1 at
position 2, every convolution becomes 2-D with the same arithmetic. Measured on Piper
en_US-joe-medium's vocoder (2 threads, shared 2-core machine): 75 against 95 ms CPU for 240
frames, 300 against 353 ms for 900; outputs equal to within 3e-7.

The convolutions and element-wise ops are rewritten: the graph inputs they read get the axis
added, what they make for other ops (the vocoder's final Unsqueeze) or the graph's outputs has it
removed. A graph where they read anything else but constant scalars (a speaker embedding looked
up in the graph) is refused with ValueError, and the caller keeps the 1-D graph.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

CONVOLUTIONS = {"Conv", "ConvTranspose"}
# Element-wise ops: their other operands must be scalars, which broadcast on any rank.
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "LeakyRelu", "Relu", "Tanh", "Sigmoid", "Identity"}
_AXIS = 2  # (N, C, T) -> (N, C, 1, T)
_SPATIAL = {"kernel_shape": 1, "strides": 1, "dilations": 1, "output_padding": 0}


def convolutions_as_2d(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` with its 1-D convolutions as 2-D ones (same inputs, outputs, values)."""
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    initializers = {i.name: i for i in graph.initializer}
    scalars = _scalar_tensors(graph)
    inner = [n for n in graph.node if n.op_type in CONVOLUTIONS | ELEMENTWISE]
    made_inside = {out for node in inner for out in node.output}
    inputs = {i.name for i in graph.input}
    for node in inner:
        for name in node.input[:1] if node.op_type in CONVOLUTIONS else node.input:
            if name and name not in made_inside and name not in scalars and name not in inputs:
                raise ValueError(f"{node.name} reads {name}, neither a graph input, a scalar nor "
                                 "made by a convolution or an element-wise op")
        if node.op_type in CONVOLUTIONS:
            _widen_convolution(node, initializers)
    read_inside = {name for node in inner for name in node.input}
    _add_axis_to(graph, [i.name for i in graph.input if i.name in read_inside], inner)
    inner_ids = {id(node) for node in inner}
    read_outside = {name for node in graph.node if id(node) not in inner_ids
                    for name in node.input}
    leaving = [name for name in made_inside
               if name in read_outside or name in {o.name for o in graph.output}]
    _remove_axis_from(graph, sorted(leaving))
    del graph.value_info[:]  # shapes changed rank; ONNX Runtime infers them again
    onnx.checker.check_model(rewritten)
    return rewritten


def _scalar_tensors(graph: onnx.GraphProto) -> set[str]:
    """Constants holding one value (Constant nodes and initializers)."""
    scalars = {i.name for i in graph.initializer if int(np.prod(i.dims)) == 1}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value" and \
                numpy_helper.to_array(node.attribute[0].t).size == 1:
            scalars.add(node.output[0])
    return scalars


def _widen_convolution(node: onnx.NodeProto, initializers: dict[str, onnx.TensorProto]) -> None:
    """Weights (O, I, K) -> (O, I, 1, K); each spatial attribute gains the height's value."""
    weight = initializers.get(node.input[1])
    if weight is None or len(weight.dims) != 3:
        raise ValueError(f"{node.name}: weights are not a 1-D convolution's initializer")
    weight.CopyFrom(numpy_helper.from_array(
        np.expand_dims(numpy_helper.to_array(weight), _AXIS), weight.name))
    for attribute in list(node.attribute):
        value = helper.get_attribute_value(attribute)
        if attribute.name in _SPATIAL:
            widened = [_SPATIAL[attribute.name], *value]
        elif attribute.name == "pads":  # [begin, end] -> [top, begin, bottom, end]
            widened = [0, value[0], 0, value[1]]
        else:
            continue
        node.attribute.remove(attribute)
        node.attribute.append(helper.make_attribute(attribute.name, widened))


def _axis_constant(graph: onnx.GraphProto) -> str:
    name = "conv2d_height_axis"
    if name not in {i.name for i in graph.initializer}:
        graph.initializer.append(numpy_helper.from_array(np.array([_AXIS], np.int64), name))
    return name


def _add_axis_to(graph: onnx.GraphProto, names: list[str], readers: list[onnx.NodeProto]
                 ) -> None:
    """Each of `names` is read as (N, C, 1, T) by `readers`."""
    axis = _axis_constant(graph)
    for name in names:
        widened = f"{name}/height"
        for node in readers:
            node.input[:] = [widened if n == name else n for n in node.input]
        graph.node.insert(0, helper.make_node("Unsqueeze", [name, axis], [widened]))


def _remove_axis_from(graph: onnx.GraphProto, names: list[str]) -> None:
    """Tensors `names` reach the ops outside and the graph's outputs as the 1-D graph made them."""
    axis = _axis_constant(graph)
    for name in names:
        widened = f"{name}/height"
        producer = next(i for i, node in enumerate(graph.node) if name in node.output)
        node = graph.node[producer]
        node.output[:] = [widened if n == name else n for n in node.output]
        graph.node.insert(producer + 1, helper.make_node("Squeeze", [widened, axis], [name]))
