"""A Piper voice folder as the server loads it: model.onnx, its graph inputs and manifest.json.

Every voice in the repository gets the same manifest whichever way it was made (an imported
Piper voice, export/piper_voice.py, or a VITS checkpoint, export/vits/): the common keys, the
voice's Piper config (the content of Piper's .onnx.json) whole under "piper", checked by the
validator the server's voice engine applies, and any sections of the exporter's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voxserve.export.errors import VoiceConfigError, WeightsError
from voxserve.export.manifest import model_manifest, write_manifest
from voxserve.server.tts.voice_config import validate_piper_config, voice_languages

MODEL_FILE = "model.onnx"
# Piper's exported graph (piper_train/export_onnx.py): phoneme ids, their count and the scales
# (noise_scale, length_scale, noise_w); multi-speaker voices add the speaker id.
PIPER_INPUTS = ("input", "input_lengths", "scales")
SPEAKER_INPUT = "sid"


def graph_inputs(num_speakers: int) -> list[str]:
    """The input names of a Piper graph with this many speakers."""
    return [*PIPER_INPUTS, SPEAKER_INPUT] if num_speakers > 1 else list(PIPER_INPUTS)


def read_piper_config(path: Path) -> dict[str, Any]:
    """A Piper config file as a dict (not yet validated); VoiceConfigError names the problem."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise VoiceConfigError(f"Piper config {path} not found") from error
    except OSError as error:
        raise VoiceConfigError(f"Piper config {path} is unreadable: {error}") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise VoiceConfigError(f"Piper config {path} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise VoiceConfigError(f"Piper config {path} is not a JSON object")
    return config


def voice_manifest(
    name: str,
    piper_config: Mapping[str, Any],
    description: str,
    model_file: str = MODEL_FILE,
    extra: Mapping[str, Any] | None = None,
    split_files: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The manifest of the voice whose graph is `model_file`, its config checked first.

    `extra` adds sections of the exporter's own (the VITS exporter's "export": how the graph
    was made); it cannot replace the common keys or "piper". `split_files` names the graph's
    streaming split ({"encoder": ..., "flow": ..., "vocoder": ...}, export/piper_split.py),
    when made.
    """
    try:
        validate_piper_config(piper_config)
    except ValueError as error:
        raise VoiceConfigError(f"bad Piper config: {error}") from error
    return model_manifest(
        name=name,
        kind="voice",
        family="piper",
        description=description,
        language_codes=voice_languages(piper_config),
        sample_rate_hz=piper_config["audio"]["sample_rate"],
        files={"model": model_file, **(split_files or {})},
        sections=({"piper": dict(piper_config)}, extra or {}),
    )


def write_voice_manifest(
    out_dir: Path,
    name: str,
    piper_config: Mapping[str, Any],
    description: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write out_dir/manifest.json for the voice whose graph is out_dir/model.onnx; returns it."""
    if not (out_dir / MODEL_FILE).is_file():
        raise WeightsError(f"{out_dir / MODEL_FILE} does not exist")
    manifest = voice_manifest(name, piper_config, description, extra=extra)
    write_manifest(out_dir, manifest)
    return manifest
