"""The `voxserve` command: serve, export, and the client commands (transcribe, synthesize, ...)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import grpc

# Commands that belong to other packages take the rest of the command line as their own.
DELEGATED: dict[str, tuple[str, str]] = {
    "serve": ("voxserve.server.__main__", "run the gRPC server"),
    "export": ("voxserve.export.cli", "export a model to ONNX"),
}


def build_parser() -> argparse.ArgumentParser:
    from voxserve.client.commands import COMMANDS, add_connection_arguments

    parser = argparse.ArgumentParser(
        prog="voxserve", description="voxserve speech server and client"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    for name, (add_arguments, _, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        add_connection_arguments(command)
        add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        import importlib

        module = importlib.import_module(DELEGATED[argv[0]][0])
        return int(module.main(argv[1:]))
    from voxserve.client.commands import COMMANDS

    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = COMMANDS[args.command][1]
    try:
        return run(args)
    except grpc.RpcError as exc:
        print(f"voxserve {args.command}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"voxserve {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
