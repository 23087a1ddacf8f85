"""Frame classifiers: WebRTC and Silero on real (espeak-ng) speech, silence and noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.speech import espeak
from voxserve.server.errors import InvalidArgument, ModelLoadError
from voxserve.server.streaming.vad import SileroModel, SileroVad, WebRtcVad

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """A spoken sentence at 16 kHz with espeak-ng's leading and trailing silence cut off."""
    samples = espeak(SENTENCE)
    loud = np.flatnonzero(np.abs(samples) > 0.02)
    return samples[loud[0] : loud[-1] + 1]


@pytest.fixture(scope="module")
def silero() -> SileroModel:
    return SileroModel.load()


def _frames(samples: np.ndarray, size: int) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, len(samples) - size + 1, size)]


def _noise(seconds: float, level: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.standard_normal(int(16000 * seconds)) * level).astype(np.float32)


def test_webrtc_hears_speech_and_not_silence(speech: np.ndarray) -> None:
    vad = WebRtcVad(2)
    assert vad.frame_samples == 480
    voiced = [vad.is_speech(frame) for frame in _frames(speech, 480)]
    assert sum(voiced) / len(voiced) > 0.8
    # webrtcvad holds speech for a few frames after it ends ("hangover"), then drops it.
    after = [vad.is_speech(frame) for frame in _frames(np.zeros(16000, np.float32), 480)]
    assert not any(after[10:])
    fresh = WebRtcVad(2)
    assert not any(fresh.is_speech(frame) for frame in _frames(np.zeros(16000, np.float32), 480))


def test_webrtc_aggressiveness_drops_more_noise() -> None:
    noise = _noise(2.0, 0.03)
    counts = []
    for aggressiveness in (0, 3):
        vad = WebRtcVad(aggressiveness)
        counts.append(sum(vad.is_speech(frame) for frame in _frames(noise, 480)))
    assert counts[0] > 5 * counts[1]


def test_webrtc_checks_its_arguments() -> None:
    with pytest.raises(InvalidArgument, match="vad_aggressiveness must be 0 to 3, not 4"):
        WebRtcVad(4)
    with pytest.raises(ValueError, match="a VAD frame is 480 samples"):
        WebRtcVad(2).is_speech(np.zeros(320, np.float32))


def test_silero_probabilities_on_speech_and_silence(
    silero: SileroModel, speech: np.ndarray
) -> None:
    vad = SileroVad(silero)
    assert vad.frame_samples == 512
    on_speech = [vad.probability(frame) for frame in _frames(speech, 512)]
    assert np.mean(on_speech) > 0.7
    vad = SileroVad(silero)
    on_silence = [vad.probability(frame) for frame in _frames(np.zeros(16000, np.float32), 512)]
    assert max(on_silence) < 0.1


def test_silero_matches_the_reference_wrapper(silero: SileroModel, speech: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    from silero_vad.utils_vad import OnnxWrapper  # the package's own ONNX runner (needs torch)

    reference = OnnxWrapper(str(SileroModel.default_path()), force_onnx_cpu=True)
    audio = np.concatenate([np.zeros(8000, np.float32), speech, np.zeros(8000, np.float32)])
    vad = SileroVad(silero)
    ours = [vad.probability(frame) for frame in _frames(audio, 512)]
    theirs = [float(reference(torch.from_numpy(frame.copy()), 16000)) for frame in
              _frames(audio, 512)]
    assert np.abs(np.array(ours) - np.array(theirs)).max() < 1e-4


def test_silero_state_belongs_to_the_stream_not_the_model(
    silero: SileroModel, speech: np.ndarray
) -> None:
    other = np.concatenate([np.zeros(4800, np.float32), speech[::-1]])
    first, second = SileroVad(silero), SileroVad(silero)
    expected_first = [first.probability(frame) for frame in _frames(speech, 512)]
    expected_second = [second.probability(frame) for frame in _frames(other, 512)]
    # Two streams interleaved on the one shared session give what each gives alone.
    a, b = SileroVad(silero), SileroVad(silero)
    got_a, got_b = [], []
    for frame_a, frame_b in zip(_frames(speech, 512), _frames(other, 512), strict=False):
        got_a.append(a.probability(frame_a))
        got_b.append(b.probability(frame_b))
    assert got_a == expected_first[: len(got_a)]
    assert got_b == expected_second[: len(got_b)]
    assert got_a != got_b


class ScriptedSilero:
    """Stands in for the Silero model (behind SileroRunner): returns scripted probabilities."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = list(probabilities)
        self.windows: list[np.ndarray] = []

    def run(self, window: np.ndarray, state: np.ndarray) -> tuple[float, np.ndarray]:
        self.windows.append(window.copy())
        return self.probabilities.pop(0), state + 1


def test_silero_hysteresis_leaves_speech_only_well_below_the_threshold() -> None:
    vad = SileroVad(ScriptedSilero([0.4, 0.6, 0.4, 0.36, 0.34, 0.4, 0.5]), threshold=0.5)
    frame = np.zeros(512, np.float32)
    # Entering needs 0.5; once in speech, it takes a drop below 0.5 - 0.15 to leave.
    assert [vad.is_speech(frame) for _ in range(7)] == [False, True, True, True, False, False,
                                                        True]
    with pytest.raises(ValueError, match="threshold must be in"):
        SileroVad(ScriptedSilero([]), threshold=0.1)


def test_silero_windows_carry_64_samples_of_context() -> None:
    model = ScriptedSilero([0.0, 0.0])
    vad = SileroVad(model)
    first = np.arange(512, dtype=np.float32)
    second = np.arange(512, 1024, dtype=np.float32)
    vad.probability(first)
    vad.probability(second)
    assert model.windows[0].shape == (1, 576)
    assert np.array_equal(model.windows[0][0], np.concatenate([np.zeros(64), first]))
    assert np.array_equal(model.windows[1][0], np.concatenate([first[-64:], second]))


def test_silero_load_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="missing.onnx is missing"):
        SileroModel.load(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="garbage.onnx cannot be loaded"):
        SileroModel.load(garbage)
    other = tmp_path / "identity.onnx"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, other)
    with pytest.raises(ModelLoadError, match="identity.onnx is not a Silero v5/v6 VAD"):
        SileroModel.load(other)
