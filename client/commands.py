"""Client subcommands of `voxserve`: each a pair of `add_arguments(parser)` and `run(args)`."""

from __future__ import annotations

import argparse
import sys
import wave
from collections.abc import Callable
from pathlib import Path

from google.protobuf import json_format

from voxserve.client.client import VoxClient
from voxserve.v1 import audio_pb2, recognizer_pb2, synthesizer_pb2


def _client(args: argparse.Namespace) -> VoxClient:
    from voxserve.client.cli import connection_from

    return VoxClient(connection_from(args))


def add_transcribe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, help="WAV or FLAC file (or raw, see --raw-rate)")
    parser.add_argument("--model", default="", help="recognizer name (default: the server's)")
    parser.add_argument("--language", default="", help="ISO 639-1 code (default: model's/detect)")
    parser.add_argument("--words", action="store_true", help="ask for word time offsets")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--raw-rate", type=int, default=0,
                        help="the file is raw 16-bit mono PCM at this rate (Hz)")


def run_transcribe(args: argparse.Namespace) -> int:
    if args.file is None:
        raise ValueError("give a FILE")
    config = recognizer_pb2.RecognitionConfig(
        model=args.model, language_code=args.language, enable_word_time_offsets=args.words,
    )
    if args.raw_rate:
        config.encoding = audio_pb2.AUDIO_ENCODING_LINEAR16
        config.sample_rate_hz = args.raw_rate
    with _client(args) as client:
        response = client.recognize(args.file.read_bytes(), config)
    if args.json:
        print(json_format.MessageToJson(response, preserving_proto_field_name=True))
    else:
        print(response.transcript)
    return 0


def add_synthesize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="text to speak")
    parser.add_argument("-o", "--output", type=Path, help="WAV file to write")
    parser.add_argument("--voice", default="", help="voice name (default: the server's)")
    parser.add_argument("--rate", type=float, default=0.0, help="speaking rate, 1.0 = normal")
    parser.add_argument("--sample-rate", type=int, default=0, help="output rate in Hz")
    parser.add_argument("--stream", action="store_true", help="use StreamingSynthesize")
    parser.add_argument("--play", action="store_true", help="play on the default speaker")


def run_synthesize(args: argparse.Namespace) -> int:
    if not args.output and not args.play:
        raise ValueError("give -o FILE.wav and/or --play")
    config = synthesizer_pb2.SynthesisConfig(
        voice=args.voice, speaking_rate=args.rate, sample_rate_hz=args.sample_rate,
        encoding=audio_pb2.AUDIO_ENCODING_LINEAR16,
    )
    with _client(args) as client:
        if args.stream:
            pcm, rate = bytearray(), 0
            for chunk in client.stream_synthesize(args.text, config):
                pcm += chunk.audio
                rate = chunk.sample_rate_hz
        else:
            response = client.synthesize(args.text, config)
            pcm, rate = bytearray(response.audio), response.sample_rate_hz
    if args.output:
        write_wav(args.output, bytes(pcm), rate)
        print(f"wrote {args.output} ({len(pcm) / 2 / rate:.2f} s at {rate} Hz)", file=sys.stderr)
    if args.play:
        from voxserve.client.speaker import play_pcm16

        play_pcm16(bytes(pcm), rate)
    return 0


def write_wav(path: Path, pcm16: bytes, sample_rate_hz: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate_hz)
        out.writeframes(pcm16)


def add_models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the full list as JSON")


def run_models(args: argparse.Namespace) -> int:
    with _client(args) as client:
        models = client.list_models()
    for info in models:
        if args.json:
            print(json_format.MessageToJson(info, preserving_proto_field_name=True, indent=None))
            continue
        kind = "recognizer" if info.kind == 1 else "voice"
        default = " (default)" if info.is_default else ""
        print(f"{info.name}\t{kind}\t{','.join(info.language_codes)}\t{info.sample_rate_hz} Hz"
              f"\t{info.execution_provider}{default}")
    return 0


Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
COMMANDS: dict[str, Command] = {
    "transcribe": (add_transcribe, run_transcribe, "transcribe a recording"),
    "synthesize": (add_synthesize, run_synthesize, "speak text into a WAV file or the speaker"),
    "models": (add_models, run_models, "list the server's recognizers and voices"),
}
