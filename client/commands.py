"""Client subcommands of `voxserve`: each a pair of `add_arguments(parser)` and `run(args)`."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import threading
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import TextIO

from google.protobuf import json_format

from voxserve.client.client import VoxClient
from voxserve.client.connection import ConnectionOptions
from voxserve.client.mic import AudioSource, FileSource, Microphone, SoundDevice
from voxserve.client.streaming import StreamSettings
from voxserve.v1 import audio_pb2, classifier_pb2, recognizer_pb2, synthesizer_pb2


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every client command takes to reach the server."""
    parser.add_argument("--server", default="localhost:50051", help="host:port of the server")
    parser.add_argument("--token", default=None, help="API key sent as a bearer token")
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument("--ca-cert", type=Path, help="PEM file of the CA that signed the server")
    parser.add_argument("--client-cert", type=Path, help="PEM client certificate (mutual TLS)")
    parser.add_argument("--client-key", type=Path, help="PEM client key (mutual TLS)")


def connection_from(args: argparse.Namespace) -> ConnectionOptions:
    return ConnectionOptions(
        target=args.server, token=args.token, tls=args.tls, ca_cert=args.ca_cert,
        client_cert=args.client_cert, client_key=args.client_key,
    )


def _client(args: argparse.Namespace) -> VoxClient:
    return VoxClient(connection_from(args))


def add_transcribe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path,
                        help="WAV or FLAC file (or raw, see --raw-rate)")
    parser.add_argument("--model", default="", help="recognizer name (default: the server's)")
    parser.add_argument("--language", default="",
                        help="BCP-47 language of the speech, such as fr or fr-CA (default: the "
                        "model's only one, or detected by a multilingual model)")
    parser.add_argument("--languages", default="",
                        help="comma-separated candidates to detect among, such as en,fr,de")
    parser.add_argument("--translate", action="store_true",
                        help="English text whatever the spoken language (multilingual models)")
    parser.add_argument("--words", action="store_true", help="ask for word time offsets")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--raw-rate", type=int, default=0,
                        help="the file is raw 16-bit mono PCM at this rate (Hz)")
    live = parser.add_argument_group(
        "live recognition", "finals print as lines, interim text updates in place on a terminal;"
        " Ctrl-C stops the audio and waits for the last final (twice: quit at once)")
    live.add_argument("--stream", action="store_true",
                      help="send FILE (16-bit WAV, or raw with --raw-rate) through"
                      " StreamingRecognize, as fast as the server takes it")
    live.add_argument("--realtime", action="store_true",
                      help="with --stream: pace the file at real time, as a live source")
    live.add_argument("--mic", action="store_true", help="stream the default microphone")
    live.add_argument("--device", default=None,
                      help="with --mic: input device name or index (default: the system's)")
    live.add_argument("--chunk-ms", type=int, default=100, help="audio per message, ms")
    live.add_argument("--min-silence-ms", type=int, default=None,
                      help="silence that ends an utterance, ms (default: the server's)")


def run_transcribe(args: argparse.Namespace) -> int:
    if args.mic or args.stream or args.realtime:
        return run_live(args, live_source(args))
    if args.file is None:
        raise ValueError("give a FILE")
    config = recognizer_pb2.RecognitionConfig(
        model=args.model, language_code=args.language, enable_word_time_offsets=args.words,
        language_codes=language_list(args.languages), translate_to_english=args.translate,
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


def language_list(text: str) -> list[str]:
    """"en, fr-CA" -> ["en", "fr-CA"]."""
    return [code.strip() for code in text.split(",") if code.strip()]


def live_source(args: argparse.Namespace) -> AudioSource:
    """The microphone (--mic) or the file (--stream), checked against the other options."""
    if args.mic:
        if args.file is not None or args.stream or args.realtime:
            raise ValueError("--mic streams the microphone: give no FILE, --stream or --realtime")
        device = int(args.device) if args.device and args.device.isdigit() else args.device
        return Microphone(SoundDevice(device), chunk_ms=args.chunk_ms)
    if not args.stream:
        raise ValueError("--realtime paces a streamed file: add --stream")
    if args.file is None:
        raise ValueError("--stream needs a FILE")
    if args.raw_rate:
        pcm, rate_hz, channels = args.file.read_bytes(), args.raw_rate, 1
    else:
        pcm, rate_hz, channels = read_wav_pcm16(args.file)
    return FileSource(pcm, rate_hz, channels, chunk_ms=args.chunk_ms, realtime=args.realtime)


def read_wav_pcm16(path: Path) -> tuple[bytes, int, int]:
    """Samples, rate and channel count of a 16-bit PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ValueError(f"{path}: --stream sends 16-bit PCM, not"
                                 f" {8 * wav.getsampwidth()}-bit")
            return wav.readframes(wav.getnframes()), wav.getframerate(), wav.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: --stream reads 16-bit PCM WAV files (or raw PCM with"
                         f" --raw-rate): {exc}") from None


def run_live(args: argparse.Namespace, source: AudioSource, out: TextIO | None = None) -> int:
    """Stream `source` and print what the server hears until it ends or Ctrl-C stops it."""
    out = out or sys.stdout
    display = LiveDisplay(out, json=args.json)
    settings = StreamSettings(
        sample_rate_hz=source.sample_rate_hz, channels=source.channels, model=args.model,
        language=args.language, words=args.words, interim_results=display.shows_interims,
        language_codes=tuple(language_list(args.languages)), translate_to_english=args.translate,
        # None leaves the field unset: the server's default
        endpointing=recognizer_pb2.EndpointingConfig(min_silence_ms=args.min_silence_ms),
    )
    with _client(args) as client, interrupt_stops(source):
        try:
            with client.stream(settings, audio=source.chunks()) as stream:
                for response in stream:
                    display.show(response)
        finally:
            source.stop()  # the call may end first (an error): release the microphone
            display.close()
    return 0


@contextlib.contextmanager
def interrupt_stops(source: AudioSource) -> Iterator[None]:
    """While inside: the first Ctrl-C stops the source (the stream then flushes its last final
    and ends), a second one raises KeyboardInterrupt. Only the main thread gets signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        source.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class LiveDisplay:
    """Prints a stream's results: final transcripts as lines; on a terminal the open utterance's
    interim text is redrawn in place on the last line. With json, every response as one line."""

    def __init__(self, out: TextIO, json: bool = False) -> None:
        self._out = out
        self._json = json
        self._tty = out.isatty() and not json
        self._interim = False

    @property
    def shows_interims(self) -> bool:
        return self._tty or self._json

    def show(self, response: recognizer_pb2.StreamingRecognizeResponse) -> None:
        if self._json:
            self._out.write(json_format.MessageToJson(
                response, preserving_proto_field_name=True, indent=None) + "\n")
        elif response.HasField("result"):
            result = response.result
            if result.is_final:
                self._clear()
                if result.transcript:
                    self._out.write(result.transcript + "\n")
            elif self._tty:
                self._clear()
                self._out.write(_tail(result.transcript, shutil.get_terminal_size().columns - 1))
                self._interim = True
        self._out.flush()

    def close(self) -> None:
        self._clear()
        self._out.flush()

    def _clear(self) -> None:
        if self._interim:
            self._out.write("\r\x1b[K")  # carriage return, erase to the end of the line
            self._interim = False


def _tail(text: str, width: int) -> str:
    """The end of `text` in `width` columns: the newest words of a long interim stay in view."""
    if len(text) <= width:
        return text
    return "\u2026" + text[len(text) - max(0, width - 1):]


def add_synthesize(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="text to speak; '-' reads standard input (with "
                        "--text-stream, line by line as it is written)")
    parser.add_argument("-o", "--output", type=Path, help="WAV file to write")
    parser.add_argument("--voice", default="", help="voice name (default: the server's)")
    parser.add_argument("--rate", type=float, default=None,
                        help="speaking rate, 0.25 to 4.0 (default 1.0: the voice's pace)")
    parser.add_argument("--sample-rate", type=int, default=None,
                        help="output rate in Hz (default: the voice's)")
    parser.add_argument("--language", default="",
                        help="BCP-47 language tag, e.g. en-US (default: the voice's)")
    parser.add_argument("--stream", action="store_true", help="use StreamingSynthesize")
    parser.add_argument("--text-stream", action="store_true",
                        help="use StreamingSynthesizeText (text streamed in, word timings)")
    parser.add_argument("--words", action="store_true",
                        help="with --text-stream: print each word's start and end in ms")
    parser.add_argument("--seed", type=int, help="fix the voice's noise (same seed, same audio)")
    parser.add_argument("--play", action="store_true", help="play on the default speaker")


def run_synthesize(args: argparse.Namespace) -> int:
    if not args.output and not args.play:
        raise ValueError("give -o FILE.wav and/or --play")
    config = synthesizer_pb2.SynthesisConfig(
        voice=args.voice, speaking_rate=args.rate, sample_rate_hz=args.sample_rate,
        encoding=audio_pb2.AUDIO_ENCODING_LINEAR16, language_code=args.language, seed=args.seed,
    )
    text = args.text
    if text == "-" and not args.text_stream:
        text = sys.stdin.read()
    with _client(args) as client:
        if args.text_stream:
            pieces = sys.stdin if text == "-" else [text]
            pcm, rate = bytearray(), 0
            for response in client.speak(pieces, config):
                pcm += response.audio_content
                rate = response.sample_rate_hz or rate
                for word in response.words if args.words else ():
                    print(f"{word.start_offset_ms}\t{word.end_offset_ms}\t{word.word}")
        elif args.stream:
            pcm, rate = bytearray(), 0
            for chunk in client.stream_synthesize(text, config):
                pcm += chunk.audio_content
                rate = chunk.sample_rate_hz
        else:
            whole = client.synthesize(text, config)
            pcm, rate = bytearray(whole.audio_content), whole.sample_rate_hz
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


def add_classify(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="WAV or FLAC file (or raw, see --raw-rate)")
    parser.add_argument("--model", default="",
                        help="multilingual recognizer (default: the server's)")
    parser.add_argument("--languages", default="",
                        help="comma-separated candidates, such as en,fr,de (default: all)")
    parser.add_argument("--top", type=int, default=5, help="how many languages to print")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--raw-rate", type=int, default=0,
                        help="the file is raw 16-bit mono PCM at this rate (Hz)")


def run_classify(args: argparse.Namespace) -> int:
    config = classifier_pb2.LanguageClassificationConfig(
        model=args.model, language_codes=language_list(args.languages), max_results=args.top,
    )
    if args.raw_rate:
        config.encoding = audio_pb2.AUDIO_ENCODING_LINEAR16
        config.sample_rate_hz = args.raw_rate
    with _client(args) as client:
        response = client.classify_language(args.file.read_bytes(), config)
    if args.json:
        print(json_format.MessageToJson(response, preserving_proto_field_name=True))
    elif not response.languages:
        print("no sound to classify", file=sys.stderr)
    for item in response.languages if not args.json else ():
        print(f"{item.language_code}\t{item.probability:.3f}")
    return 0


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
    "classify": (add_classify, run_classify, "rank the spoken languages of a recording"),
}
