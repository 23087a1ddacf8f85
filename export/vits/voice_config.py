"""The Piper voice config (the `.onnx.json` next to a Piper voice): where it comes from, checks.

It holds what the model weights do not: the phoneme-to-id map, the sample rate, the espeak voice,
the default inference scales and the speaker names. An export takes it from `--config` (the
config.json Piper's preprocessing wrote) or, failing that, from the checkpoint's
hyper-parameters when the training run stored a phoneme_id_map there.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voxserve.export.errors import VoiceConfigError
from voxserve.export.vits.checkpoint import VitsCheckpoint
from voxserve.export.voice_folder import read_piper_config
from voxserve.server.tts.voice_config import (
    DEFAULT_LENGTH_SCALE,
    DEFAULT_NOISE_SCALE,
    DEFAULT_NOISE_W,
    validate_piper_config,
)

# Written out in the manifest when a config has no "inference" section (Piper's defaults).
PIPER_INFERENCE_DEFAULTS = {"noise_scale": DEFAULT_NOISE_SCALE,
                            "length_scale": DEFAULT_LENGTH_SCALE, "noise_w": DEFAULT_NOISE_W}


def resolve_voice_config(config_path: Path | None, checkpoint: VitsCheckpoint) -> dict[str, Any]:
    """The checked Piper config for this checkpoint, from --config or its hyper-parameters."""
    if config_path is not None:
        voice = read_piper_config(config_path)
        source = str(config_path)
    else:
        voice = voice_config_from_hyper_parameters(checkpoint)
        source = f"{checkpoint.path} hyper-parameters"
    return checked_voice_config(voice, checkpoint, source)


def voice_config_from_hyper_parameters(checkpoint: VitsCheckpoint) -> dict[str, Any]:
    """A Piper config assembled from hyper-parameters that carry a phoneme_id_map."""
    hp = {**checkpoint.datamodule_hyper_parameters, **checkpoint.hyper_parameters}
    if "phoneme_id_map" not in hp:
        hint = ""
        if "config_path" in hp:
            hint = f" (its training run wrote one to {hp['config_path']})"
        raise VoiceConfigError(
            f"{checkpoint.path}: carries no phoneme_id_map; pass the voice's config.json with "
            f"--config{hint}"
        )
    if "sample_rate" not in hp:
        raise VoiceConfigError(f"{checkpoint.path}: hyper-parameters lack sample_rate")
    voice: dict[str, Any] = {
        "audio": {"sample_rate": hp["sample_rate"]},
        "inference": dict(PIPER_INFERENCE_DEFAULTS),
        "phoneme_type": hp.get("phoneme_type") or "espeak",
        "phoneme_id_map": hp["phoneme_id_map"],
        "num_symbols": checkpoint.config.num_symbols,
        "num_speakers": checkpoint.config.num_speakers,
        "speaker_id_map": hp.get("speaker_id_map") or {},
    }
    if "espeak_voice" in hp:
        voice["espeak"] = {"voice": hp["espeak_voice"]}
    if "quality" in hp:
        voice["audio"]["quality"] = hp["quality"]
    return voice


def checked_voice_config(
    voice: Mapping[str, Any], checkpoint: VitsCheckpoint, source: str
) -> dict[str, Any]:
    """A copy of `voice` with missing inference defaults filled, or VoiceConfigError.

    It must fit the model (symbols, speakers, sample rate) and pass the checks the server's
    voice engine applies when it loads the voice, so a bad config fails before the export.
    """
    out: dict[str, Any] = copy.deepcopy(dict(voice))
    config = checkpoint.config
    for key, model_value in (("num_symbols", config.num_symbols),
                             ("num_speakers", config.num_speakers)):
        value = out.setdefault(key, model_value)
        if value != model_value:
            raise VoiceConfigError(f"{source}: {key} {value}, but the model has {model_value}")
    sample_rate_hz = (out.get("audio") or {}).get("sample_rate")
    trained_hz = checkpoint.hyper_parameters.get("sample_rate", sample_rate_hz)
    if trained_hz != sample_rate_hz:
        raise VoiceConfigError(
            f"{source}: sample rate {sample_rate_hz} Hz, but the model was trained at "
            f"{trained_hz} Hz"
        )
    out["inference"] = {**PIPER_INFERENCE_DEFAULTS, **(out.get("inference") or {})}
    try:
        validate_piper_config(out)
    except ValueError as exc:
        raise VoiceConfigError(f"{source}: {exc}") from exc
    return out
