"""Shared fixtures: the real model repository and a real server process on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the real models through `models_dir` (directly or through
    `server`) is `slow`, so `-m "not slow"` runs exactly the tests that need no export."""
    for item in items:
        if "models_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The real default models, exported by `make models` (CI runs it before the tests)."""
    path = Path(os.environ.get("VOXSERVE_TEST_MODELS", REPO / "models"))
    missing = [name for name in ("whisper-tiny.en", "en_US-joe-medium")
               if not (path / name / "manifest.json").is_file()]
    if missing:
        pytest.fail(f"models {missing} missing in {path}: run `make models` first")
    return path


@pytest.fixture(scope="session")
def server(models_dir: Path) -> Iterator[ServerProcess]:
    """One real server on the default models, shared by the integration tests."""
    with ServerProcess(models_dir) as proc:
        proc.wait_serving()
        yield proc
