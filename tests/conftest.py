"""Shared fixtures: the real model repository and a real server process on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the real models (through `models_dir`, `multilingual_models_dir`
    or a server on them) is `slow`, so `-m "not slow"` runs exactly the tests that need no
    export."""
    for item in items:
        if "model_store" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


DEFAULT_MODELS = ("whisper-tiny.en", "en_US-joe-medium")
MULTILINGUAL_MODEL = "whisper-base"


def _linked(store: Path, names: tuple[str, ...], folder: Path) -> Path:
    """`folder` holding links to the named model folders of `store` (failing when one is
    missing), so a server loads exactly these whatever else `make models` exported."""
    missing = [name for name in names if not (store / name / "manifest.json").is_file()]
    if missing:
        pytest.fail(f"models {missing} missing in {store}: run `make models` first")
    for name in names:
        (folder / name).symlink_to((store / name).resolve(), target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def model_store() -> Path:
    """Where `make models` exported the real models (CI runs it before the tests)."""
    return Path(os.environ.get("VOXSERVE_TEST_MODELS", REPO / "models"))


@pytest.fixture(scope="session")
def models_dir(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The English default models only: Whisper tiny.en and the Piper joe voice."""
    return _linked(model_store, DEFAULT_MODELS, tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def multilingual_models_dir(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `make serve` serves: the defaults and multilingual Whisper base."""
    return _linked(model_store, (*DEFAULT_MODELS, MULTILINGUAL_MODEL),
                   tmp_path_factory.mktemp("multilingual-models"))


@pytest.fixture(scope="session")
def server(models_dir: Path) -> Iterator[ServerProcess]:
    """One real server on the default models, shared by the integration tests."""
    with ServerProcess(models_dir) as proc:
        proc.wait_serving()
        yield proc


@pytest.fixture(scope="session")
def multilingual_server(multilingual_models_dir: Path) -> Iterator[ServerProcess]:
    """A real server on what `make serve` serves: tiny.en (the default), Whisper base, joe."""
    with ServerProcess(multilingual_models_dir) as proc:
        proc.wait_serving()
        yield proc
