"""The repository's manifest reader: the keys every model has and the format it reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxserve.server.errors import ModelLoadError
from voxserve.server.repository import FORMAT_VERSION, read_manifest


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
