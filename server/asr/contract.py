"""The Whisper ONNX graph contract: file names, tensor names, limits.

The one home of these facts: the exporter writes graphs and the manifest's "tensor_names" from
them, and the engine checks both against them when it loads a model."""

from __future__ import annotations

from voxserve.server.errors import ModelLoadError

ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
INT8_FILES = {"encoder": "encoder.int8.onnx", "decoder": "decoder.int8.onnx"}

OPSET = 17
# 30 s of 10 ms frames: the encoder's positional table covers n_audio_ctx = 1500 frames after
# its stride-2 convolution
MAX_MEL_FRAMES = 3000

ENCODER_INPUTS = ("mel",)
ENCODER_OUTPUTS = ("cross_k", "cross_v")
DECODER_INPUTS = ("tokens", "self_k", "self_v", "cross_k", "cross_v")
DECODER_OUTPUTS = ("logits", "new_self_k", "new_self_v", "cross_attn")

# symbolic dimension names of the dynamic axes
ENCODER_AXES = {
    "mel": {0: "batch", 2: "n_frames"},
    "cross_k": {1: "batch", 2: "n_audio"},
    "cross_v": {1: "batch", 2: "n_audio"},
}
DECODER_AXES = {
    "tokens": {0: "batch", 1: "n_tokens"},
    "self_k": {1: "batch", 2: "n_past"},
    "self_v": {1: "batch", 2: "n_past"},
    "cross_k": {1: "batch", 2: "n_audio"},
    "cross_v": {1: "batch", 2: "n_audio"},
    "logits": {0: "batch", 1: "n_tokens"},
    "new_self_k": {1: "batch", 2: "n_total"},
    "new_self_v": {1: "batch", 2: "n_total"},
    "cross_attn": {0: "batch", 2: "n_tokens", 3: "n_audio"},
}


def tensor_names() -> dict[str, dict[str, list[str]]]:
    """The manifest's "tensor_names" section."""
    return {
        "encoder": {"inputs": list(ENCODER_INPUTS), "outputs": list(ENCODER_OUTPUTS)},
        "decoder": {"inputs": list(DECODER_INPUTS), "outputs": list(DECODER_OUTPUTS)},
    }


def check_tensor_names(manifest_names: object, model: str) -> None:
    """The manifest's "tensor_names" must be this contract's: a model exported for another
    contract would feed the graphs the wrong tensors. ModelLoadError names the difference."""
    expected = tensor_names()
    if manifest_names == expected:
        return
    if not isinstance(manifest_names, dict):
        raise ModelLoadError(f"model {model}: manifest's whisper.tensor_names is missing or not an"
                             " object; re-export the model with `voxserve export whisper`")
    wrong = [f"{graph}.{side}: {manifest_names.get(graph, {}).get(side)} (expected {names})"
             for graph, sides in expected.items() for side, names in sides.items()
             if not isinstance(manifest_names.get(graph), dict)
             or manifest_names[graph].get(side) != names]
    raise ModelLoadError(f"model {model}: the graphs' tensor names differ from the engine's"
                         f" contract: {'; '.join(wrong)}; re-export the model")
