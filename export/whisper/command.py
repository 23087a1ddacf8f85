"""`voxserve export whisper`: weights -> checked encoder/decoder ONNX pair with its manifest."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

MODEL_HELP = "tiny.en (default), base, small, a CTranslate2 model folder or an openai .pt file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny.en", help=MODEL_HELP)
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: models/whisper-<model name>)")
    parser.add_argument("--int8", action="store_true",
                        help="also write int8-weight variants and measure their word error rate")
    parser.add_argument("--skip-parity", action="store_true",
                        help="do not compare the ONNX graphs with PyTorch on real speech")
    parser.add_argument("--assets", type=Path, default=None,
                        help="folder with tokenizer.json, vocabulary and config.json for a .pt "
                             "checkpoint (default: the weights package with the same vocabulary)")


class Progress:
    """One stderr line per step, with the seconds since the export started."""

    def __init__(self) -> None:
        self._start_s = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self._start_s:6.1f}s] {message}", file=sys.stderr, flush=True)

    def step(self, label: str, action: Callable[..., T], *args: object) -> T:
        self.say(f"{label} ...")
        return action(*args)


def run(args: argparse.Namespace) -> int:
    """Export, check and install; returns the process exit status."""
    # torch and the export modules load here, not at import, so `--help` stays fast
    from voxserve.export.errors import ExportError

    progress = Progress()
    try:
        out = _export(args, progress)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    progress.say(f"done: {out}")
    return 0


def _export(args: argparse.Namespace, progress: Progress) -> Path:
    from voxserve.export.manifest import write_manifest
    from voxserve.export.whisper import pipeline
    from voxserve.export.whisper.manifest import build_manifest, model_name
    from voxserve.export.whisper.model import build_whisper
    from voxserve.export.whisper.sources import load_whisper

    loaded = progress.step(f"loading Whisper {args.model}", load_whisper, args.model, args.assets)
    out = args.out if args.out is not None else Path("models") / model_name(loaded)
    model = build_whisper(loaded.dims, loaded.state_dict, loaded.alignment_heads)
    staging = pipeline.staging_folder(out)
    progress.step("exporting encoder.onnx and decoder.onnx", pipeline.export_graphs, model,
                  staging)
    parity: dict[str, object] = {"skipped": True}
    if not args.skip_parity:
        report = progress.step("checking parity with PyTorch on Piper speech",
                               pipeline.run_parity, model, staging, loaded)
        progress.say(f"parity: max |diff| logits {report.max_abs_diff_logits:.2e}, cross_k "
                     f"{report.max_abs_diff_cross_k:.2e}; transcript {report.transcript!r}")
        parity = report.as_manifest()
    variants = None
    if args.int8:
        int8 = progress.step("quantizing to int8 and measuring WER", pipeline.make_int8,
                             staging, loaded)
        progress.say(f"int8: WER {int8.wer_int8:.3f} (fp32 {int8.wer_fp32:.3f})")
        variants = {"int8": int8.as_manifest()}
    pipeline.copy_tokenizer(loaded, staging)
    write_manifest(staging, build_manifest(loaded, parity, variants))
    pipeline.install(staging, out)
    for path in sorted(out.iterdir()):
        progress.say(f"{path.name}: {path.stat().st_size / 1e6:.1f} MB")
    return out
