"""`voxserve export ...`: one subcommand per model family, each defined in its own package."""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand -> module with `add_arguments(parser)` and `run(args) -> int`
COMMANDS = {
    "whisper": ("voxserve.export.whisper.command", "Whisper (tiny.en, base, small, checkpoint)"),
    "vits": ("voxserve.export.vits.command", "a Piper-trained PyTorch VITS checkpoint"),
    "piper-voice": ("voxserve.export.piper_voice", "an exported Piper voice (.onnx + .json)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxserve export", description="Export a model to ONNX for the model repository."
    )
    sub = parser.add_subparsers(dest="family", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = importlib.import_module(module)
        command.add_arguments(sub.add_parser(name, help=f"export {help_text}"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.family][0])
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
