"""The Whisper ONNX contract shared with the engine: file names, tensor names, limits."""

from __future__ import annotations

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
