"""manifest.json of an exported Whisper folder: the facts the engine reads next to the .onnx."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from voxserve.export.whisper.contract import (
    DECODER_FILE,
    ENCODER_FILE,
    OPSET,
    SAMPLE_RATE_HZ,
    TOKENIZER_FILE,
    tensor_names,
)
from voxserve.export.whisper.sources import LoadedWhisper

FORMAT_VERSION = 1


def model_name(loaded: LoadedWhisper) -> str:
    """Repository name of the model: "whisper-" + the Whisper model name."""
    return f"whisper-{loaded.name}"


def build_manifest(
    loaded: LoadedWhisper,
    parity: Mapping[str, object],
    variants: Mapping[str, Mapping[str, object]] | None = None,
) -> dict[str, object]:
    """The manifest dict; `parity` is a ParityReport.as_manifest() or {"skipped": True}."""
    vocabulary = loaded.vocabulary
    languages = vocabulary.languages() if loaded.multilingual else {}
    kind = "multilingual" if loaded.multilingual else "English-only"
    whisper: dict[str, object] = {
        "dims": loaded.dims.as_dict(),
        "multilingual": loaded.multilingual,
        "special_tokens": vocabulary.special_tokens().as_dict(),
    }
    if loaded.multilingual:
        whisper["languages"] = languages
    whisper.update({
        "suppress_tokens": list(loaded.suppress_tokens),
        "suppress_tokens_at_begin": list(loaded.suppress_tokens_at_begin),
        "alignment_heads": [list(pair) for pair in loaded.alignment_heads],
        "opset": OPSET,
        "tensor_names": tensor_names(),
        "source": dict(loaded.source),
        "parity": dict(parity),
    })
    manifest: dict[str, object] = {
        "format_version": FORMAT_VERSION,
        "name": model_name(loaded),
        "kind": "recognizer",
        "family": "whisper",
        "description": f"OpenAI Whisper {loaded.name} ({kind}): ONNX encoder and decoder "
                       "with an explicit key/value cache",
        "language_codes": sorted(languages) if loaded.multilingual else ["en"],
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "files": {"encoder": ENCODER_FILE, "decoder": DECODER_FILE, "tokenizer": TOKENIZER_FILE},
        "whisper": whisper,
    }
    if variants:
        manifest["variants"] = {name: dict(files) for name, files in variants.items()}
    return manifest


def write_manifest(folder: Path, manifest: Mapping[str, object]) -> Path:
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path
