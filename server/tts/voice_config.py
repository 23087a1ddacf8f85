"""A Piper voice's facts, read and checked from the manifest next to its .onnx.

The manifest's "piper" section is the voice's own Piper config (the .onnx.json that Piper's
exporter writes); the common keys (name, language_codes, sample_rate_hz, files) sit beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxserve.server.errors import InvalidArgument, ModelLoadError
from voxserve.server.language import normalize_language_code

# Piper's defaults (piper/config.py) for configs without an "inference" section
DEFAULT_NOISE_SCALE = 0.667
DEFAULT_LENGTH_SCALE = 1.0
DEFAULT_NOISE_W = 0.8
MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 48000
_REQUIRED_SYMBOLS = ("_", "^", "$")  # pad, beginning and end of sentence


@dataclass(frozen=True)
class VoiceConfig:
    """Everything the engine needs to know about one voice."""

    name: str
    description: str
    language_codes: tuple[str, ...]
    sample_rate_hz: int
    model_path: Path
    espeak_voice: str
    phoneme_id_map: Mapping[str, tuple[int, ...]]
    vowel_clusters: tuple[tuple[str, ...], ...]
    num_speakers: int
    speakers: tuple[tuple[int, str], ...]  # (id, name) for multi-speaker voices, else empty
    default_speaker_id: int
    noise_scale: float
    length_scale: float
    noise_w: float

    @classmethod
    def from_manifest(cls, folder: Path, manifest: Mapping[str, Any]) -> VoiceConfig:
        """Read a voice folder's manifest; ModelLoadError names what is wrong."""
        name = str(manifest.get("name") or folder.name)
        try:
            return cls._parse(folder, name, manifest)
        except (ValueError, TypeError, KeyError, InvalidArgument) as error:
            raise ModelLoadError(f"voice {name!r} in {folder.name}: {error}") from error

    @classmethod
    def _parse(cls, folder: Path, name: str, manifest: Mapping[str, Any]) -> VoiceConfig:
        piper = manifest.get("piper")
        if not isinstance(piper, Mapping):
            raise ValueError("manifest has no 'piper' section")
        validate_piper_config(piper)
        model_file = manifest.get("files", {}).get("model")
        if not isinstance(model_file, str) or not (folder / model_file).is_file():
            raise ValueError(f"model file {model_file!r} is missing")
        inference = piper.get("inference", {})
        return cls(
            name=name,
            description=str(manifest.get("description", "")),
            # Piper writes locales as "en_US"; the API speaks BCP-47 ("en-US").
            language_codes=tuple(
                normalize_language_code(code, "manifest language_codes")
                for code in manifest.get("language_codes") or voice_languages(piper)
            ),
            sample_rate_hz=int(piper["audio"]["sample_rate"]),
            model_path=folder / model_file,
            espeak_voice=str(piper["espeak"]["voice"]),
            phoneme_id_map={k: tuple(v) for k, v in piper["phoneme_id_map"].items()},
            vowel_clusters=tuple(tuple(c) for c in piper.get("vowel_clusters") or ()),
            num_speakers=int(piper["num_speakers"]),
            speakers=_speakers(piper),
            default_speaker_id=int(piper.get("default_speaker_id", 0)),
            noise_scale=float(inference.get("noise_scale", DEFAULT_NOISE_SCALE)),
            length_scale=float(inference.get("length_scale", DEFAULT_LENGTH_SCALE)),
            noise_w=float(inference.get("noise_w", DEFAULT_NOISE_W)),
        )


def validate_piper_config(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first thing this engine cannot use in a Piper config."""
    phoneme_type = config.get("phoneme_type", "espeak")
    if phoneme_type != "espeak":
        raise ValueError(f"phoneme_type {phoneme_type!r} is not supported (only 'espeak')")
    voice = config.get("espeak", {}).get("voice")
    if not isinstance(voice, str) or not voice:
        raise ValueError("espeak.voice is missing")
    _check_id_map(config.get("phoneme_id_map"), config.get("num_symbols"))
    rate = config.get("audio", {}).get("sample_rate")
    if not isinstance(rate, int) or not MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ:
        raise ValueError(
            f"audio.sample_rate must be an integer from {MIN_SAMPLE_RATE_HZ} to "
            f"{MAX_SAMPLE_RATE_HZ} Hz, not {rate!r}"
        )
    speakers = config.get("num_speakers", 1)
    if not isinstance(speakers, int) or speakers < 1:
        raise ValueError(f"num_speakers must be a positive integer, not {speakers!r}")
    for speaker, sid in (config.get("speaker_id_map") or {}).items():
        if not isinstance(sid, int) or not 0 <= sid < speakers:
            raise ValueError(f"speaker {speaker!r} has id {sid!r}, outside 0..{speakers - 1}")
    for key, value in (config.get("inference") or {}).items():
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"inference.{key} must be a number >= 0, not {value!r}")
    if (config.get("inference") or {}).get("length_scale", 1.0) == 0:
        raise ValueError("inference.length_scale must be > 0")


def _check_id_map(id_map: object, num_symbols: object) -> None:
    if not isinstance(id_map, Mapping) or not id_map:
        raise ValueError("phoneme_id_map is missing or empty")
    for symbol in _REQUIRED_SYMBOLS:
        if symbol not in id_map:
            raise ValueError(f"phoneme_id_map lacks the {symbol!r} symbol")
    limit = num_symbols if isinstance(num_symbols, int) else None
    for phoneme, ids in id_map.items():
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise ValueError(f"phoneme_id_map[{phoneme!r}] must be a list of integer ids")
        if any(i < 0 or (limit is not None and i >= limit) for i in ids):
            raise ValueError(f"phoneme_id_map[{phoneme!r}] has an id outside 0..{limit}")


def voice_languages(config: Mapping[str, Any]) -> list[str]:
    """The voice's locale: language.code (Piper >= 1.0 configs), else from the espeak voice."""
    code = (config.get("language") or {}).get("code")
    if isinstance(code, str) and code:
        return [code]
    language, _, region = str(config["espeak"]["voice"]).rpartition("/")[2].partition("-")
    return [f"{language}_{region.upper()}" if region else language]


def _speakers(config: Mapping[str, Any]) -> tuple[tuple[int, str], ...]:
    count = int(config["num_speakers"])
    if count <= 1:
        return ()
    names = {sid: name for name, sid in (config.get("speaker_id_map") or {}).items()}
    return tuple((sid, str(names.get(sid, sid))) for sid in range(count))
