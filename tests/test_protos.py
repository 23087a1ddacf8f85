"""The generated Python stubs match protos/ (regenerate with `make protos`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTOS = REPO / "protos"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    sources = sorted(PROTOS.glob("voxserve/v1/*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTOS}", f"--python_out={tmp_path}",
         f"--grpc_python_out={tmp_path}", f"--pyi_out={tmp_path}", *map(str, sources)],
        check=True,
    )
    fresh = {p.name: p.read_text() for p in (tmp_path / "voxserve" / "v1").iterdir()}
    committed = {p.name: p.read_text() for p in (PROTOS / "voxserve" / "v1").iterdir()
                 if "_pb2" in p.name}
    assert sorted(committed) == sorted(fresh), "generated files missing or extra: run make protos"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale generated code {stale}: run `make protos`"


def test_stubs_import_without_onnxruntime() -> None:
    code = ("import sys; sys.modules['onnxruntime'] = None; sys.modules['torch'] = None\n"
            "import voxserve.client.cli, voxserve.client.client, voxserve.v1.recognizer_pb2_grpc")
    subprocess.run([sys.executable, "-c", code], check=True)
