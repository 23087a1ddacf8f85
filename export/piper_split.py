"""A Piper (VITS) graph cut for streaming: an encoder, the flow and a windowable vocoder.

Piper's exported graph runs text encoder, duration predictor, alignment, prior sampling, flow and
HiFi-GAN decoder in one call, drawing its noise from two RandomNormalLike ops; so the first audio
waits for the whole sentence and the same request never gives the same audio. Cut at the prior
sample (VITS `infer()`: z_p = m_p + randn_like(m_p) * exp(logs_p) * noise_scale):

- encoder.onnx: (input, input_lengths, scales, duration_noise[, sid]) -> durations (frames per
  phoneme id, after length_scale and ceil), m_p and logs_p expanded to frames;
- flow.onnx: (z_p, y_mask[, sid]) -> z, the flow (reverse) over a whole unit;
- vocoder.onnx: (z[, sid]) -> audio, HiFi-GAN, its 1-D convolutions written as 2-D ones
  (export/conv2d.py); it holds no state across time, so it runs over windows of frames with a
  little context (server/tts/vits.py). Cut apart from the flow, a
  window needs only the vocoder's own reach as context (about 12 frames), not the flow's too
  (32 more), and the flow runs once per unit instead of once per window.

Voices imported before the flow was cut out have decoder.onnx, (z_p, y_mask[, sid]) -> audio,
flow and HiFi-GAN together; the server still runs them.

The duration predictor's noise becomes the `duration_noise` input and the prior noise is drawn by
the engine, so a seed fixes both. The cut is found by the graph's structure (the two
RandomNormalLike ops and what they feed), not by tensor names alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
import onnx.utils
from onnx import TensorProto, helper

from voxserve.export.conv2d import convolutions_as_2d
from voxserve.export.errors import WeightsError

ENCODER_FILE = "encoder.onnx"
FLOW_FILE = "flow.onnx"
VOCODER_FILE = "vocoder.onnx"
DECODER_FILE = "decoder.onnx"  # flow + vocoder in one graph: earlier imports
# Names of the cut's tensors in the split graphs (the engine feeds and reads these).
DURATION_NOISE = "duration_noise"
DURATIONS = "durations"
PRIOR_MEAN = "m_p"
PRIOR_LOG_SCALE = "logs_p"
PRIOR_SAMPLE = "z_p"
FRAME_MASK = "y_mask"
FLOW_OUTPUT = "z"
AUDIO = "output"


class _Cut:
    """The tensors where a Piper graph is cut, found from its two noise ops."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.producers = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        noise = [node for node in graph.node if node.op_type == "RandomNormalLike"]
        duration = [node for node in noise if node.name.startswith("/dp/")]
        prior = [node for node in noise if not node.name.startswith("/dp/")]
        if len(duration) != 1 or len(prior) != 1:
            raise WeightsError(
                "not a Piper VITS graph: expected one RandomNormalLike in the duration predictor "
                f"(/dp/) and one for the prior, found {[n.name for n in noise]}"
            )
        self.duration_noise = duration[0]
        self.m_p = prior[0].input[0]
        scaled = self._only(prior[0].output[0], "Mul")
        exp_input = [name for name in scaled.input if name != prior[0].output[0]][0]
        self.logs_p = self._producer(exp_input, "Exp").input[0]
        times_scale = self._only(scaled.output[0], "Mul")
        self.z_p = self._only(times_scale.output[0], "Add").output[0]
        ceil = [node for node in graph.node if node.op_type == "Ceil"]
        if len(ceil) != 1:
            raise WeightsError(f"not a Piper VITS graph: {len(ceil)} Ceil ops, expected one")
        self.durations = ceil[0].output[0]
        self.y_mask = self._frame_mask(graph)
        self.z = self._vocoder_input(graph)

    def _vocoder_input(self, graph: onnx.GraphProto) -> str:
        """The one tensor HiFi-GAN (the /dec/ nodes) reads from the flow: z, masked."""
        vocoder = [node for node in graph.node if node.name.startswith("/dec/")]
        made = {out for node in vocoder for out in node.output}
        constant = {i.name for i in graph.initializer} | _constant_tensors(graph)
        outside = {name for node in vocoder for name in node.input
                   if name and name not in made and name not in constant}
        after_z_p = {out for node in _descendants(self.z_p, self.consumers)
                     for out in node.output}
        from_flow = outside & after_z_p
        if len(from_flow) != 1:
            raise WeightsError(f"not a Piper VITS graph: the vocoder (/dec/) reads "
                               f"{sorted(from_flow)} from the flow")
        return from_flow.pop()

    def _only(self, tensor: str, op_type: str) -> onnx.NodeProto:
        nodes = [n for n in self.consumers.get(tensor, []) if n.op_type == op_type]
        if len(nodes) != 1:
            raise WeightsError(f"not a Piper VITS graph: {tensor} feeds {len(nodes)} {op_type}")
        return nodes[0]

    def _producer(self, tensor: str, op_type: str) -> onnx.NodeProto:
        node = self.producers.get(tensor)
        if node is None or node.op_type != op_type:
            raise WeightsError(f"not a Piper VITS graph: {tensor} is not made by {op_type}")
        return node

    def _frame_mask(self, graph: onnx.GraphProto) -> str:
        """The one computed tensor the flow and decoder read besides z_p: the frame mask."""
        after = _descendants(self.z_p, self.consumers)
        constant = {i.name for i in graph.initializer} | _constant_tensors(graph)
        made_after = {out for node in after for out in node.output}
        outside = {
            name for node in after for name in node.input
            if name and name != self.z_p and name not in made_after and name not in constant
            and name != "sid"
        }
        if len(outside) != 1:
            raise WeightsError(f"not a Piper VITS graph: the decoder reads {sorted(outside)}")
        return outside.pop()


def _descendants(tensor: str, consumers: dict[str, list[onnx.NodeProto]]) -> list[onnx.NodeProto]:
    seen: dict[int, onnx.NodeProto] = {}
    stack = [tensor]
    while stack:
        for node in consumers.get(stack.pop(), []):
            if id(node) not in seen:
                seen[id(node)] = node
                stack.extend(node.output)
    return list(seen.values())


def _constant_tensors(graph: onnx.GraphProto) -> set[str]:
    """Outputs of nodes that depend on no graph input (Constant ops and what they feed)."""
    inputs = {i.name for i in graph.input}
    initializers = {i.name for i in graph.initializer}
    constant: set[str] = set()
    for node in graph.node:  # ONNX nodes are topologically sorted
        if all(not name or name in constant or name in initializers for name in node.input) \
                and not any(name in inputs for name in node.input):
            constant.update(node.output)
    return constant


def split_voice(model_path: Path, out_dir: Path) -> tuple[str, str, str]:
    """Write out_dir/encoder.onnx, flow.onnx and vocoder.onnx cut from a Piper voice graph.

    WeightsError when the graph is not a Piper VITS graph this cut understands.
    """
    model = onnx.load(str(model_path))
    cut = _Cut(model.graph)
    speaker = ["sid"] if any(i.name == "sid" for i in model.graph.input) else []
    model.graph.node.remove(cut.duration_noise)
    noise_name = cut.duration_noise.output[0]
    model.graph.input.append(
        helper.make_tensor_value_info(noise_name, TensorProto.FLOAT, [1, 2, "phonemes"])
    )
    with tempfile.TemporaryDirectory(prefix="voxserve-split-") as scratch:
        whole = Path(scratch) / "whole.onnx"
        onnx.save(model, str(whole))
        encoder, flow = out_dir / ENCODER_FILE, out_dir / FLOW_FILE
        vocoder = out_dir / VOCODER_FILE
        onnx.utils.extract_model(
            str(whole), str(encoder),
            ["input", "input_lengths", "scales", noise_name, *speaker],
            [cut.durations, cut.m_p, cut.logs_p],
        )
        onnx.utils.extract_model(
            str(whole), str(flow), [cut.z_p, cut.y_mask, *speaker], [cut.z]
        )
        onnx.utils.extract_model(str(whole), str(vocoder), [cut.z, *speaker], [AUDIO])
    _rename(encoder, {noise_name: DURATION_NOISE, cut.durations: DURATIONS,
                      cut.m_p: PRIOR_MEAN, cut.logs_p: PRIOR_LOG_SCALE})
    _rename(flow, {cut.z_p: PRIOR_SAMPLE, cut.y_mask: FRAME_MASK, cut.z: FLOW_OUTPUT})
    _rename(vocoder, {cut.z: FLOW_OUTPUT})
    _as_2d(vocoder)
    return ENCODER_FILE, FLOW_FILE, VOCODER_FILE


def _as_2d(path: Path) -> None:
    """The vocoder's 1-D convolutions as 2-D ones, for ONNX Runtime's faster kernels
    (export/conv2d.py); a vocoder it cannot rewrite (a speaker embedding inside) stays 1-D."""
    try:
        onnx.save(convolutions_as_2d(onnx.load(str(path))), str(path))
    except ValueError:
        pass


def _rename(path: Path, names: dict[str, str]) -> None:
    """Give the cut's tensors their documented names, everywhere they appear."""
    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output, *graph.value_info]:
        value.name = names.get(value.name, value.name)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
