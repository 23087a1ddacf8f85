"""manifest.json of an exported model folder: the keys every model has, and the one writer.

Each family adds its own section ("whisper", "piper", ...) beside the common keys; the server's
repository loader (server/repository.py) reads the common keys and dispatches on "family".
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from voxserve.export.errors import ExportError
from voxserve.server.repository import FORMAT_VERSION, MANIFEST

MANIFEST_FILE = MANIFEST


def model_manifest(
    *,
    name: str,
    kind: str,
    family: str,
    description: str,
    language_codes: Sequence[str],
    sample_rate_hz: int,
    files: Mapping[str, str],
    sections: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The common keys in their usual order, then the keys of each of `sections` in turn.

    A section cannot replace a key already there (ExportError names the clash).
    """
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "kind": kind,
        "family": family,
        "description": description,
        "language_codes": list(language_codes),
        "sample_rate_hz": sample_rate_hz,
        "files": dict(files),
    }
    for section in sections:
        clash = sorted(set(section) & set(manifest))
        if clash:
            raise ExportError(f"manifest sections {clash} would replace keys already there")
        manifest.update(section)
    return manifest


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Write folder/manifest.json (UTF-8, indented, non-ASCII kept readable); returns its path."""
    path = folder / MANIFEST_FILE
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
