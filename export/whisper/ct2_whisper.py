"""CTranslate2 `WhisperSpec` variables mapped onto openai's parameter names.

CTranslate2 fuses the self-attention q/k/v projections (and the cross-attention k/v) into one
matrix whose key bias is zero, and ties the output projection to the token embedding by alias;
this module splits and checks them and reads the model's dimensions from the shapes.
"""

from __future__ import annotations

import re

import numpy as np

from voxserve.export.errors import WeightsError
from voxserve.export.whisper.ct2 import Ct2Model
from voxserve.export.whisper.model import ModelDimensions

WHISPER_SPEC = "WhisperSpec"
# ctranslate2 specs/common_spec.py Activation enum: GELU (exact, erf) is 3
_GELU = 3

StateDict = dict[str, np.ndarray]


def whisper_dims(model: Ct2Model) -> ModelDimensions:
    """Model dimensions read from the variable shapes and head counts."""
    if model.spec_name != WHISPER_SPEC:
        raise WeightsError(f"CTranslate2 model is a {model.spec_name}, not a {WHISPER_SPEC}")
    conv1 = model.get("encoder/conv1/weight")
    embeddings = model.get("decoder/embeddings/weight")
    return ModelDimensions(
        n_mels=conv1.shape[1],
        n_audio_ctx=model.get("encoder/position_encodings/encodings").shape[0],
        n_audio_state=conv1.shape[0],
        n_audio_head=model.scalar("encoder/num_heads"),
        n_audio_layer=_count_layers(model, "encoder"),
        n_vocab=embeddings.shape[0],
        n_text_ctx=model.get("decoder/position_encodings/encodings").shape[0],
        n_text_state=embeddings.shape[1],
        n_text_head=model.scalar("decoder/num_heads"),
        n_text_layer=_count_layers(model, "decoder"),
    )


def _count_layers(model: Ct2Model, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    if indices != set(range(len(indices))) or not indices:
        raise WeightsError(f"CTranslate2 {stack} layers are missing or not numbered 0..n-1")
    return len(indices)


def whisper_state_dict(model: Ct2Model, dims: ModelDimensions) -> StateDict:
    """All parameters under openai's names, as float32 arrays."""
    _check_flags(model)
    state: StateDict = {}
    _copy(state, model, "encoder/conv1", "encoder.conv1")
    _copy(state, model, "encoder/conv2", "encoder.conv2")
    state["encoder.positional_embedding"] = _f32(model.get("encoder/position_encodings/encodings"))
    for i in range(dims.n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _self_attention(state, model, f"{src}/self_attention", f"{dst}.attn", dims.n_audio_state)
        _norm(state, model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        _ffn(state, model, f"{src}/ffn", dst)
    _norm(state, model, "encoder/layer_norm", "encoder.ln_post")
    state["decoder.token_embedding.weight"] = _f32(model.get("decoder/embeddings/weight"))
    state["decoder.positional_embedding"] = _f32(model.get("decoder/position_encodings/encodings"))
    for i in range(dims.n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _self_attention(state, model, f"{src}/self_attention", f"{dst}.attn", dims.n_text_state)
        _norm(state, model, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        _cross_attention(state, model, f"{src}/attention", f"{dst}.cross_attn", dims.n_text_state)
        _norm(state, model, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        _ffn(state, model, f"{src}/ffn", dst)
    _norm(state, model, "decoder/layer_norm", "decoder.ln")
    _check_tied_projection(model)
    return state


def _check_flags(model: Ct2Model) -> None:
    if model.scalar("decoder/activation") != _GELU:
        raise WeightsError("CTranslate2 Whisper decoder does not use exact GELU")
    if model.scalar("decoder/pre_norm") != 1 or model.scalar("decoder/scale_embeddings") != 0:
        raise WeightsError("CTranslate2 Whisper decoder flags differ from Whisper's layout")


def _check_tied_projection(model: Ct2Model) -> None:
    name = "decoder/projection/weight"
    if model.aliases.get(name) == "decoder/embeddings/weight":
        return
    projection = model.get(name)
    if not np.array_equal(projection, model.get("decoder/embeddings/weight")):
        raise WeightsError("Whisper ties the output projection to the token embedding; this "
                           "CTranslate2 model does not")


def _f32(value: np.ndarray) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _copy(state: StateDict, model: Ct2Model, src: str, dst: str) -> None:
    state[f"{dst}.weight"] = _f32(model.get(f"{src}/weight"))
    state[f"{dst}.bias"] = _f32(model.get(f"{src}/bias"))


def _norm(state: StateDict, model: Ct2Model, src: str, dst: str) -> None:
    state[f"{dst}.weight"] = _f32(model.get(f"{src}/gamma"))
    state[f"{dst}.bias"] = _f32(model.get(f"{src}/beta"))


def _ffn(state: StateDict, model: Ct2Model, src: str, dst: str) -> None:
    _norm(state, model, f"{src}/layer_norm", f"{dst}.mlp_ln")
    _copy(state, model, f"{src}/linear_0", f"{dst}.mlp.0")
    _copy(state, model, f"{src}/linear_1", f"{dst}.mlp.2")


def _split(model: Ct2Model, name: str, parts: int, n_state: int) -> tuple[list, list]:
    weight, bias = _f32(model.get(f"{name}/weight")), _f32(model.get(f"{name}/bias"))
    if weight.shape != (parts * n_state, n_state) or bias.shape != (parts * n_state,):
        raise WeightsError(f"CTranslate2 variable {name} has shape {weight.shape}, expected "
                           f"({parts * n_state}, {n_state})")
    return np.split(weight, parts), np.split(bias, parts)


def _keyless_bias(name: str, key_bias: np.ndarray) -> None:
    # Whisper's key projection has no bias; CTranslate2 stores zeros in the fused one
    if np.any(key_bias != 0):
        raise WeightsError(f"CTranslate2 {name} has a non-zero key bias; Whisper has none")


def _self_attention(state: StateDict, model: Ct2Model, src: str, dst: str, n_state: int) -> None:
    (wq, wk, wv), (bq, bk, bv) = _split(model, f"{src}/linear_0", 3, n_state)
    _keyless_bias(src, bk)
    state.update({f"{dst}.query.weight": wq, f"{dst}.query.bias": bq, f"{dst}.key.weight": wk,
                  f"{dst}.value.weight": wv, f"{dst}.value.bias": bv})
    _copy(state, model, f"{src}/linear_1", f"{dst}.out")


def _cross_attention(state: StateDict, model: Ct2Model, src: str, dst: str, n_state: int) -> None:
    _copy(state, model, f"{src}/linear_0", f"{dst}.query")
    (wk, wv), (bk, bv) = _split(model, f"{src}/linear_1", 2, n_state)
    _keyless_bias(src, bk)
    state.update({f"{dst}.key.weight": wk, f"{dst}.value.weight": wv, f"{dst}.value.bias": bv})
    _copy(state, model, f"{src}/linear_2", f"{dst}.out")
