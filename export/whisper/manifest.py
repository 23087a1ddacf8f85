"""manifest.json of an exported Whisper folder: the facts the engine reads next to the .onnx."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from voxserve.export.errors import WeightsError
from voxserve.export.manifest import model_manifest
from voxserve.export.whisper.sources import LoadedWhisper
from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.contract import (
    DECODER_FILE,
    ENCODER_FILE,
    OPSET,
    TOKENIZER_FILE,
    tensor_names,
)
from voxserve.server.asr.features import SAMPLE_RATE_HZ
from voxserve.server.errors import ModelLoadError


def model_name(loaded: LoadedWhisper) -> str:
    """Repository name of the model: "whisper-" + the Whisper model name."""
    return f"whisper-{loaded.name}"


def build_manifest(
    loaded: LoadedWhisper,
    parity: Mapping[str, object],
    variants: Mapping[str, Mapping[str, object]] | None = None,
) -> dict[str, Any]:
    """The manifest dict; `parity` is a ParityReport.as_manifest() or {"skipped": True}."""
    vocabulary = loaded.vocabulary
    languages = vocabulary.languages() if loaded.multilingual else {}
    kind = "multilingual" if loaded.multilingual else "English-only"
    whisper: dict[str, object] = {
        "dims": loaded.dims.as_dict(),
        "multilingual": loaded.multilingual,
        "special_tokens": asdict(vocabulary.special_tokens()),
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
    sections: dict[str, object] = {"whisper": whisper}
    if variants:
        sections["variants"] = {name: dict(files) for name, files in variants.items()}
    return model_manifest(
        name=model_name(loaded),
        kind="recognizer",
        family="whisper",
        description=f"OpenAI Whisper {loaded.name} ({kind}): ONNX encoder and decoder "
                    "with an explicit key/value cache",
        language_codes=sorted(languages) if loaded.multilingual else ["en"],
        sample_rate_hz=SAMPLE_RATE_HZ,
        files={"encoder": ENCODER_FILE, "decoder": DECODER_FILE, "tokenizer": TOKENIZER_FILE},
        sections=(sections,),
    )


def engine_config(loaded: LoadedWhisper) -> WhisperConfig:
    """The model as the engine will see it: its manifest read by the engine's own parser."""
    try:
        return WhisperConfig.from_manifest(build_manifest(loaded, {"skipped": True}))
    except ModelLoadError as err:
        raise WeightsError(f"Whisper {loaded.name}: {err}") from err
