"""VitsCheckpoint: the generator weights and hyper-parameters of a Piper-trained checkpoint.

Two layouts are read: a PyTorch Lightning `.ckpt` (Piper's trainer; generator weights under
`state_dict` prefixed `model_g.`, VitsModel's arguments under `hyper_parameters`), and a plain
generator state dict (SynthesizerTrn keys, no prefix). A plain state dict carries no
hyper-parameters, so its config is read off the weight shapes (see `config_from_state_dict`).
"""

from __future__ import annotations

import pathlib
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from voxserve.export.errors import WeightsError
from voxserve.export.vits.config import PIPER_RESBLOCK_DILATIONS, VitsConfig
from voxserve.export.vits.layers import weight_norm_magnitude
from voxserve.export.vits.model import Synthesizer

GENERATOR_PREFIX = "model_g."
# Piper's trainer stores dataset paths in its hyper-parameters; these are the only non-tensor
# classes its checkpoints need beyond what torch.load(weights_only=True) allows.
_SAFE_GLOBALS: list[Any] = [pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath,
                 pathlib.PureWindowsPath]


@dataclass(frozen=True)
class VitsCheckpoint:
    """What an export needs from a checkpoint file; never mutated after loading."""

    path: Path
    config: VitsConfig
    generator_state: Mapping[str, Tensor]
    # VitsModel's arguments ({} for a plain state dict) and, from LightningCLI runs, the data
    # module's (espeak voice, config path)
    hyper_parameters: Mapping[str, Any] = field(default_factory=dict)
    datamodule_hyper_parameters: Mapping[str, Any] = field(default_factory=dict)


def load_checkpoint(path: Path, *, trust_pickle: bool = False) -> VitsCheckpoint:
    """Read a Lightning checkpoint or a plain generator state dict.

    trust_pickle=False unpickles tensors and plain containers only, so a hostile file cannot run
    code; pass True only for a checkpoint from a trusted source that needs more classes.
    """
    raw = _read(path, trust_pickle)
    if isinstance(raw.get("state_dict"), Mapping):
        state = _generator_part(raw["state_dict"], path)
        hyper_parameters = dict(raw.get("hyper_parameters") or {})
        datamodule = dict(raw.get("datamodule_hyper_parameters") or {})
    elif raw and all(isinstance(v, Tensor) for v in raw.values()):
        state, hyper_parameters, datamodule = _generator_part(raw, path), {}, {}
    else:
        raise WeightsError(
            f"{path}: neither a Lightning checkpoint (no 'state_dict') nor a state dict of tensors"
        )
    try:
        if hyper_parameters:
            config = VitsConfig.from_hyper_parameters(hyper_parameters)
        else:
            config = config_from_state_dict(state)
    except (KeyError, ValueError, TypeError, SyntaxError) as exc:
        raise WeightsError(f"{path}: cannot tell the model's shape: {exc}") from exc
    return VitsCheckpoint(path, config, state, hyper_parameters, datamodule)


def _read(path: Path, trust_pickle: bool) -> dict[str, Any]:
    try:
        if trust_pickle:
            raw = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals(_SAFE_GLOBALS):
                raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first_line = str(exc).strip().splitlines()[-1]
        raise WeightsError(
            f"{path}: holds Python objects beyond tensors ({first_line}); if you trust its "
            "source, export again with --trust-checkpoint"
        ) from exc
    except (OSError, RuntimeError, EOFError) as exc:
        raise WeightsError(f"{path}: unreadable checkpoint ({exc})") from exc
    if not isinstance(raw, Mapping):
        raise WeightsError(f"{path}: holds a {type(raw).__name__}, not a checkpoint dict")
    return dict(raw)


def _generator_part(state: Mapping[str, Any], path: Path) -> dict[str, Tensor]:
    """SynthesizerTrn's weights: `model_g.*` without the prefix, or the whole dict if unprefixed."""
    if any(key.startswith(GENERATOR_PREFIX) for key in state):
        state = {k[len(GENERATOR_PREFIX):]: v for k, v in state.items()
                 if k.startswith(GENERATOR_PREFIX)}
    if "enc_p.emb.weight" not in state:
        raise WeightsError(f"{path}: no Piper VITS generator weights (enc_p.emb.weight)")
    return {key: value for key, value in state.items() if isinstance(value, Tensor)}


def config_from_state_dict(state: Mapping[str, Tensor]) -> VitsConfig:
    """The config that weight shapes determine, plus what they cannot show from Piper's presets.

    Weights do not record resblock dilations or upsampling strides. Piper's trainer only uses
    the dilations in PIPER_RESBLOCK_DILATIONS and strides of half the upsampling kernel
    (16 -> 8, 8 -> 4, 4 -> 2 in every quality preset), so those are assumed.
    """
    state = _with_weight_norm_keys(state)
    num_symbols, hidden_channels = state["enc_p.emb.weight"].shape
    n_layers = _count(state, r"enc_p\.encoder\.attn_layers\.(\d+)\.")
    resblock = "1" if any(k.startswith("dec.resblocks.0.convs1.") for k in state) else "2"
    n_ups = _count(state, r"dec\.ups\.(\d+)\.")
    num_kernels = _count(state, r"dec\.resblocks\.(\d+)\.") // n_ups
    if num_kernels != len(PIPER_RESBLOCK_DILATIONS[resblock]):
        raise ValueError(f"{num_kernels} resblocks per upsampling, Piper's presets have 3; "
                         "export from the Lightning checkpoint, whose hyper-parameters say")
    first_conv = "convs1.0" if resblock == "1" else "convs.0"
    up_kernels = tuple(int(_weight(state, f"dec.ups.{i}").shape[2]) for i in range(n_ups))
    speakers = state.get("emb_g.weight")
    cond = state.get("dec.cond.weight")
    return VitsConfig(
        num_symbols=int(num_symbols),
        num_speakers=int(speakers.shape[0]) if speakers is not None else 1,
        spec_channels=int(state["enc_q.pre.weight"].shape[1]),
        inter_channels=int(state["enc_p.proj.weight"].shape[0]) // 2,
        hidden_channels=int(hidden_channels),
        filter_channels=int(state["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape[0]),
        n_heads=int(hidden_channels) // int(
            state["enc_p.encoder.attn_layers.0.emb_rel_k"].shape[2]),
        n_layers=n_layers,
        kernel_size=int(state["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape[2]),
        resblock=resblock,
        resblock_kernel_sizes=tuple(
            int(_weight(state, f"dec.resblocks.{j}.{first_conv}").shape[2])
            for j in range(num_kernels)),
        resblock_dilation_sizes=PIPER_RESBLOCK_DILATIONS[resblock],
        upsample_rates=tuple(k // 2 for k in up_kernels),
        upsample_initial_channel=int(state["dec.conv_pre.weight"].shape[0]),
        upsample_kernel_sizes=up_kernels,
        gin_channels=int(cond.shape[1]) if cond is not None else 0,
        use_sdp="dp.flows.0.m" in state,
    )


def _count(state: Mapping[str, Tensor], pattern: str) -> int:
    indices = {int(m.group(1)) for key in state if (m := re.match(pattern, key))}
    if not indices:
        raise KeyError(f"no weights match {pattern!r}")
    return max(indices) + 1


def _weight(state: Mapping[str, Tensor], prefix: str) -> Tensor:
    """A conv's weight, or its direction `weight_v` when weight-normed: same shape either way."""
    if f"{prefix}.weight_v" in state:
        return state[f"{prefix}.weight_v"]
    return state[f"{prefix}.weight"]


def _with_weight_norm_keys(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename torch's newer parametrized weight norm to Piper's `weight_g` / `weight_v`."""
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        out[key.replace(".parametrizations.weight.original1", ".weight_v")] = value
    return out


def _unfolded(state: Mapping[str, Tensor], expected: set[str]) -> dict[str, Tensor]:
    """Split plain `weight`s (weight norm removed before saving) back into g and v."""
    out = _with_weight_norm_keys(state)
    for key in list(out):
        stem = key.removesuffix(".weight")
        if key.endswith(".weight") and f"{stem}.weight_v" in expected:
            weight = out.pop(key)
            out[f"{stem}.weight_v"] = weight
            out[f"{stem}.weight_g"] = weight_norm_magnitude(weight)
    return out


def build_synthesizer(checkpoint: VitsCheckpoint) -> Synthesizer:
    """The Synthesizer with the checkpoint's weights loaded strictly, in eval mode."""
    model = Synthesizer(checkpoint.config)
    state = _unfolded(checkpoint.generator_state, set(model.state_dict()))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"{checkpoint.path}: weights do not fit the generator its hyper-parameters "
            f"describe: {exc}"
        ) from exc
    model.eval()
    model.requires_grad_(False)
    return model
