"""VoiceExport: one Piper-trained checkpoint to a voice folder (model.onnx + manifest.json).

Steps: load the checkpoint, settle the Piper voice config, trace the graph, check parity against
PyTorch, then move the graph into place and write the manifest with the voice-manifest writer
every voice shares (export/voice_folder.py), plus an "export" section: how the graph was made and
its measured parity. The graph is traced under a temporary name and renamed only once it passed,
so a failed export never leaves a model.onnx that the server would load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from voxserve.export.errors import ExportError
from voxserve.export.manifest import MANIFEST_FILE
from voxserve.export.vits.checkpoint import build_synthesizer, load_checkpoint
from voxserve.export.vits.onnx_export import OPSET_VERSION, export_onnx
from voxserve.export.vits.parity import ParityResult, check_parity
from voxserve.export.vits.voice_config import resolve_voice_config
from voxserve.export.voice_folder import MODEL_FILE, write_voice_manifest


@dataclass(frozen=True)
class VoiceExportRequest:
    """What `voxserve export vits` was asked to do."""

    checkpoint: Path
    out_dir: Path
    config: Path | None = None
    name: str = ""  # default: the output folder's name
    skip_parity: bool = False
    trust_checkpoint: bool = False

    def __post_init__(self) -> None:
        if not self.checkpoint.is_file():
            raise ExportError(f"{self.checkpoint}: no such checkpoint file")
        if self.config is not None and not self.config.is_file():
            raise ExportError(f"{self.config}: no such Piper config file")

    @property
    def voice_name(self) -> str:
        return self.name or self.out_dir.resolve().name


@dataclass(frozen=True)
class VoiceExport:
    """The written voice folder and, unless skipped, its parity figures."""

    name: str
    model_path: Path
    manifest_path: Path
    parity: ParityResult | None


def export_voice(request: VoiceExportRequest) -> VoiceExport:
    checkpoint = load_checkpoint(request.checkpoint, trust_pickle=request.trust_checkpoint)
    voice_config = resolve_voice_config(request.config, checkpoint)
    model = build_synthesizer(checkpoint)
    request.out_dir.mkdir(parents=True, exist_ok=True)
    model_path = request.out_dir / MODEL_FILE
    partial = request.out_dir / f".{MODEL_FILE}.partial"
    try:
        export_onnx(model, partial)
        parity = None if request.skip_parity else check_parity(model, partial, voice_config)
        partial.replace(model_path)
    finally:
        partial.unlink(missing_ok=True)
    export_info = {
        "tool": "voxserve export vits",
        "checkpoint": request.checkpoint.name,
        "onnx_opset": OPSET_VERSION,
        "torch_version": torch.__version__,
        "parity": parity.as_manifest() if parity else None,
    }
    description = f"Piper VITS voice exported from {request.checkpoint.name}"
    write_voice_manifest(request.out_dir, request.voice_name, voice_config, description,
                         extra={"export": export_info})
    return VoiceExport(request.voice_name, model_path, request.out_dir / MANIFEST_FILE, parity)
