"""The import fences of docs/architecture.md, checked on every module's imports (at any depth).

- torch (and onnx) only in export/: the server and the client run without PyTorch;
- onnxruntime, in server/, only in the runtime and the engines that own an ONNX session;
  never in client/;
- grpc, its health/reflection/status packages and the generated voxserve.v1 stubs, in server/,
  only at the edge (servicers/ and app.py, which builds the gRPC server); never in export/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "client", "export", "bench")

TORCH = ("torch", "onnx")
ORT = ("onnxruntime",)
GRPC = ("grpc", "grpc_health", "grpc_reflection", "grpc_status", "voxserve.v1")
# The server's engines and the runtime: each owns ONNX Runtime sessions of one model kind.
ORT_IN_SERVER = {"server/runtime.py", "server/asr/network.py", "server/tts/piper.py",
                 "server/tts/vits.py",
                 "server/streaming/vad.py"}
GRPC_IN_SERVER = ("server/servicers/", "server/app.py")


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (REPO / package).rglob("*.py")
                  if "_pb2" not in path.name)


def imported(path: Path) -> set[str]:
    """Every module `path` imports, top level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def reaches(names: set[str], roots: tuple[str, ...]) -> set[str]:
    return {n for n in names if any(n == r or n.startswith(r + ".") for r in roots)}


def allowed(relative: str, roots: tuple[str, ...]) -> bool:
    if roots == TORCH:
        return relative.startswith("export/")
    if roots == ORT:  # export/ checks its graphs in ONNX Runtime; bench/ runs peers in it
        return relative in ORT_IN_SERVER or relative.startswith(("export/", "bench/"))
    return relative.startswith(("client/", "bench/", *GRPC_IN_SERVER))


@pytest.mark.parametrize("roots", [TORCH, ORT, GRPC], ids=["torch", "onnxruntime", "grpc"])
def test_import_fences(roots: tuple[str, ...]) -> None:
    crossings = {}
    for path in modules():
        relative = path.relative_to(REPO).as_posix()
        found = reaches(imported(path), roots)
        if found and not allowed(relative, roots):
            crossings[relative] = sorted(found)
    assert crossings == {}


def test_bench_imports_nothing_from_tests() -> None:
    offenders = {path.relative_to(REPO).as_posix() for path in (REPO / "bench").rglob("*.py")
                 if reaches(imported(path), ("tests",))}
    assert offenders == set()


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(("voxserve", *parts))


def test_no_import_circle_inside_a_package() -> None:
    """server/ and client/ import one way: a module never reaches itself through its imports."""
    graph: dict[str, set[str]] = {}
    for package in ("server", "client"):
        for path in (REPO / package).rglob("*.py"):
            graph[module_name(path)] = set()
    for package in ("server", "client"):
        for path in (REPO / package).rglob("*.py"):
            graph[module_name(path)] = {n for n in imported(path) if n in graph}
    circles = [name for name in graph if name in _reachable(graph, name)]
    assert circles == []


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_the_fences_see_the_imports_they_guard() -> None:
    """The walker finds imports inside functions too, so a lazy import cannot slip past."""
    names = imported(REPO / "server" / "__main__.py")
    assert "voxserve.server.app" in names  # imported inside main()
    assert reaches(imported(REPO / "server" / "runtime.py"), ORT) == {"onnxruntime"}
