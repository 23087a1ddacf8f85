"""The code base stays lint-clean: ruff and mypy on the Python code, buf on the protos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUF = ["npx", "--yes", "@bufbuild/buf@1.75.0"]


def run(command: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    result = run([sys.executable, "-m", "ruff", "check", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    """mypy on the packages as they are imported (voxserve.server, ...), the way `make lint` runs
    it: on the bare folders every `voxserve.*` import would be unresolved, hence unchecked."""
    result = run([sys.executable, str(REPO / ".ci" / "typecheck.py")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint() -> None:
    assert shutil.which("npx"), "buf runs through npx: install Node.js and npm"
    result = run([*BUF, "lint"], cwd=REPO / "protos")
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_against_main() -> None:
    """Once v1 is on main, protos/ may only change compatibly (buf's FILE rules)."""
    has_main = run(["git", "rev-parse", "-q", "--verify", "main"]).returncode == 0
    on_main = run(["git", "ls-tree", "main", "protos/voxserve/v1/recognizer.proto"]).stdout
    if not (has_main and on_main):
        pytest.skip("no main branch holding protos/voxserve/v1 to compare against")
    result = run([*BUF, "breaking", "protos", "--against", ".git#branch=main,subdir=protos"])
    assert result.returncode == 0, result.stdout + result.stderr
