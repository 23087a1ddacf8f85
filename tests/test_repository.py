"""The repository: its manifest reader (the keys every model has, the format it reads) and
the Silero VAD it owns."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from voxserve.server.errors import ModelLoadError
from voxserve.server.repository import FORMAT_VERSION, SileroSlot, read_manifest
from voxserve.server.streaming.vad import SileroModel


def folder_with(tmp_path: Path, **manifest: object) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"")
    base = {"format_version": FORMAT_VERSION, "name": "v", "kind": "voice", "family": "piper",
            "files": {"model": "model.onnx"}}
    (tmp_path / "manifest.json").write_text(json.dumps({**base, **manifest}))
    return tmp_path


def test_a_manifest_of_the_current_format_is_read(tmp_path: Path) -> None:
    assert read_manifest(folder_with(tmp_path))["format_version"] == 1


def test_another_format_version_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"format_version 2 is not the one this server "
                       r"reads \(1\); re-export the model"):
        read_manifest(folder_with(tmp_path, format_version=2))


def test_a_manifest_without_format_version_is_refused(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["format_version"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="manifest lacks 'format_version'"):
        read_manifest(folder)


def test_silero_is_loaded_once_and_shared() -> None:
    slot = SileroSlot()
    with ThreadPoolExecutor(3) as pool:
        models = list(pool.map(lambda _: slot.get(), range(3)))
    assert models[0] is models[1] is models[2]
    assert models[0].path.name == "silero_vad.onnx"


def test_silero_that_cannot_load_is_a_load_error_tried_again(tmp_path: Path) -> None:
    calls: list[Path] = []

    def missing() -> SileroModel:
        calls.append(tmp_path / "silero_vad.onnx")
        return SileroModel.load(calls[-1])

    slot = SileroSlot(missing)
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="Silero VAD model silero_vad.onnx is missing"):
            slot.get()
    assert len(calls) == 2
