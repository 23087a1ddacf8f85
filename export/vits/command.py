"""`voxserve export vits`: its arguments, and the run that reports success or the failure reason.

torch is imported only inside `run`, so building the `voxserve export` parser stays cheap.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True,
                        help="Piper-trained Lightning .ckpt, or a plain generator state dict")
    parser.add_argument("--config", type=Path, default=None,
                        help="the voice's Piper config.json (phoneme_id_map, sample rate, espeak "
                             "voice); default: the checkpoint's hyper-parameters")
    parser.add_argument("--out", type=Path, required=True,
                        help="voice folder to write model.onnx and manifest.json into")
    parser.add_argument("--name", default="", help="voice name (default: the --out folder name)")
    parser.add_argument("--skip-parity", action="store_true",
                        help="do not compare ONNX Runtime with PyTorch after exporting")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="unpickle arbitrary Python objects in the checkpoint; only for "
                             "files from a trusted source that fail to load without it")


def run(args: argparse.Namespace) -> int:
    from voxserve.export.errors import ExportError
    from voxserve.export.vits.voice_export import VoiceExportRequest, export_voice

    try:
        request = VoiceExportRequest(
            checkpoint=args.checkpoint, out_dir=args.out, config=args.config, name=args.name,
            skip_parity=args.skip_parity, trust_checkpoint=args.trust_checkpoint,
        )
        result = export_voice(request)
    except ExportError as exc:
        print(f"voxserve export vits: {exc}", file=sys.stderr)
        return 1
    size_mb = result.model_path.stat().st_size / 1e6
    print(f"voice {result.name!r}: {result.model_path} ({size_mb:.1f} MB), {result.manifest_path}")
    if result.parity is None:
        print("parity: skipped")
    else:
        print(f"parity: max |onnx - torch| = {result.parity.max_abs_diff:.3g} "
              f"(tolerance {result.parity.tolerance:g}) over ids {result.parity.id_counts}, "
              f"speakers {result.parity.speaker_ids}")
    return 0
