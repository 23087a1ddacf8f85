"""The steps of one Whisper export, each returning what the next needs.

Files are written to a staging folder beside the output and moved into place only after every
check passed, so a server never sees a half-written model folder.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxserve.export.errors import ExportError
from voxserve.export.manifest import MANIFEST_FILE
from voxserve.export.whisper.greedy import DecodeRules, greedy_decode, transcribe_rules
from voxserve.export.whisper.manifest import engine_config
from voxserve.export.whisper.model import Whisper
from voxserve.export.whisper.onnx_export import export_decoder, export_encoder
from voxserve.export.whisper.parity import ParityCase, ParityReport, check_parity
from voxserve.export.whisper.quality import word_error_rate
from voxserve.export.whisper.quantize import quantize_int8
from voxserve.export.whisper.runners import OrtRunner, TorchRunner
from voxserve.export.whisper.sources import LoadedWhisper
from voxserve.export.whisper.speech import SENTENCES, Utterance, synthesize
from voxserve.server.asr.contract import (
    DECODER_FILE,
    ENCODER_FILE,
    INT8_FILES,
    MAX_MEL_FRAMES,
    TOKENIZER_FILE,
)
from voxserve.server.asr.features import HOP_LENGTH, log_mel_spectrogram

# decoding a few steps of the unpadded input is enough to exercise the dynamic frame axis
_SHORT_CASE_STEPS = 4


@dataclass(frozen=True)
class Int8Result:
    """The int8 variant's files and its word error rate next to the fp32 graphs'."""

    files: dict[str, str]
    wer_fp32: float
    wer_int8: float
    sentences: int

    def as_manifest(self) -> dict[str, object]:
        return {**self.files, "wer": self.wer_int8, "wer_fp32": self.wer_fp32,
                "wer_audio": f"{self.sentences} Piper en_US-joe-medium sentences, padded to 30 s"}


def staging_folder(out: Path) -> Path:
    """An empty folder beside `out` to build the export in."""
    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def export_graphs(model: Whisper, folder: Path) -> None:
    export_encoder(model, folder / ENCODER_FILE)
    export_decoder(model, folder / DECODER_FILE)


def decode_rules(loaded: LoadedWhisper) -> DecodeRules:
    """English transcription without timestamps, up to half the text context (openai's)."""
    config = engine_config(loaded)
    language = "en" if config.multilingual else None
    return transcribe_rules(config, language, config.max_text_tokens)


def padded_mel(utterance: Utterance, n_mels: int) -> np.ndarray:
    """[1, n_mels, 3000]: the utterance followed by silence to 30 s, as openai feeds Whisper."""
    mel = log_mel_spectrogram(utterance.samples, n_mels, padding=MAX_MEL_FRAMES * HOP_LENGTH)
    return mel[None, :, :MAX_MEL_FRAMES]


def even_frames(mel: np.ndarray) -> np.ndarray:
    """Drop a trailing frame if needed: the encoder's stride-2 conv takes an even count."""
    return mel[:, : mel.shape[1] - mel.shape[1] % 2]


def parity_cases(utterance: Utterance, n_mels: int, max_steps: int) -> list[ParityCase]:
    """The utterance padded to 30 s (decoded to the end) and unpadded (a few steps)."""
    short = even_frames(log_mel_spectrogram(utterance.samples, n_mels))[None]
    spoken = f"Piper en_US-joe-medium: {utterance.text!r}"
    return [
        ParityCase(padded_mel(utterance, n_mels), f"{spoken}, padded to 30 s", max_steps),
        ParityCase(short, f"the same, {short.shape[2]} frames unpadded", _SHORT_CASE_STEPS),
    ]


def run_parity(model: Whisper, folder: Path, loaded: LoadedWhisper) -> ParityReport:
    rules = decode_rules(loaded)
    dims = loaded.dims
    candidate = OrtRunner(folder / ENCODER_FILE, folder / DECODER_FILE, dims.n_text_layer,
                          dims.n_text_state)
    cases = parity_cases(synthesize(SENTENCES[0]), dims.n_mels, rules.max_tokens)
    return check_parity(TorchRunner(model), candidate, cases, rules, loaded.tokenizer())


def make_int8(folder: Path, loaded: LoadedWhisper) -> Int8Result:
    """Quantize both graphs and transcribe the known sentences with fp32 and int8."""
    quantize_int8(folder / ENCODER_FILE, folder / INT8_FILES["encoder"], decoder=False)
    quantize_int8(folder / DECODER_FILE, folder / INT8_FILES["decoder"], decoder=True)
    rules, dims = decode_rules(loaded), loaded.dims
    runners = {
        name: OrtRunner(folder / encoder, folder / decoder, dims.n_text_layer, dims.n_text_state)
        for name, (encoder, decoder) in {
            "fp32": (ENCODER_FILE, DECODER_FILE),
            "int8": (INT8_FILES["encoder"], INT8_FILES["decoder"]),
        }.items()
    }
    mels = [padded_mel(synthesize(text), dims.n_mels) for text in SENTENCES]
    tokenizer = loaded.tokenizer()
    wer = {
        name: word_error_rate(SENTENCES, [
            tokenizer.decode(greedy_decode(runner, mel, rules)) for mel in mels
        ])
        for name, runner in runners.items()
    }
    return Int8Result(dict(INT8_FILES), wer["fp32"], wer["int8"], len(SENTENCES))


def copy_tokenizer(loaded: LoadedWhisper, folder: Path) -> None:
    shutil.copyfile(loaded.tokenizer_path, folder / TOKENIZER_FILE)


def install(staging: Path, out: Path) -> None:
    """Replace `out` by the staged folder; refuses to remove anything but a Whisper export."""
    if out.exists():
        if any(out.iterdir()) and not _is_whisper_export(out):
            raise ExportError(f"{out} exists and is not an exported Whisper model; not replacing")
        shutil.rmtree(out)
    staging.rename(out)


def _is_whisper_export(folder: Path) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("family") == "whisper"
