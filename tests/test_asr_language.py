"""Language identification, candidates and translation on the real multilingual Whisper base,
with real human speech: Asterisk's French and Spanish prompts and multilingual.mp3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.asterisk import Prompt, load_16k, prompts, spread
from tests.conftest import MULTILINGUAL_MODEL, REPO
from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.network import CrossCache, DecoderOutput, SelfCache, WhisperNetwork
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.asr.transcription import Transcription
from voxserve.server.asr.types import TranscribeOptions
from voxserve.server.asr.whisper import WhisperRecognizer
from voxserve.server.errors import InvalidArgument
from voxserve.server.runtime import RuntimeOptions

MULTILINGUAL_MP3 = REPO.parent / "shared" / "speech" / "multilingual.mp3"
RATE_HZ = 16000
# Prompts of at least this many words: one- and two-word prompts ("activé", "Gracias") are too
# short for any language detector (bench/language.py measures those too).
MIN_WORDS = 4
PROMPTS_PER_LANGUAGE = 8


@pytest.fixture(scope="module")
def recognizer(multilingual_models_dir: Path) -> WhisperRecognizer:
    folder = multilingual_models_dir / MULTILINGUAL_MODEL
    manifest = json.loads((folder / "manifest.json").read_text())
    return WhisperRecognizer.load(folder, manifest, RuntimeOptions(device="cpu"))


@pytest.fixture(scope="module")
def multilingual() -> np.ndarray:
    return load_16k(MULTILINGUAL_MP3)


def sentences(language: str) -> list[Prompt]:
    return spread(prompts(language), PROMPTS_PER_LANGUAGE, min_words=MIN_WORDS)


def test_the_model_lists_whisper_languages(recognizer: WhisperRecognizer) -> None:
    info = recognizer.info
    assert info.multilingual and len(info.language_codes) == 99
    assert {"en", "fr", "es", "de", "pl", "zh"} <= set(info.language_codes)


@pytest.mark.parametrize("language", ["fr", "es"])
def test_asterisk_prompts_are_identified(recognizer: WhisperRecognizer, language: str) -> None:
    found = {p.name: recognizer.identify_language(p.audio()) for p in sentences(language)}
    named = {name: f.ranking.best.code for name, f in found.items() if f.ranking is not None}
    assert named == {name: language for name in found}


def test_german_and_english_halves_of_multilingual_mp3(recognizer: WhisperRecognizer,
                                                       multilingual: np.ndarray) -> None:
    halves = {"en": multilingual[: 30 * RATE_HZ], "de": multilingual[30 * RATE_HZ :]}
    for language, audio in halves.items():
        found = recognizer.identify_language(audio)
        assert found.ranking is not None
        assert found.ranking.best.code == language
        assert found.ranking.best.probability > 0.5
        assert (found.start_s, found.end_s) == (0.0, pytest.approx(len(audio) / RATE_HZ, abs=0.02))


def test_ranking_is_a_sorted_distribution(recognizer: WhisperRecognizer) -> None:
    found = recognizer.identify_language(sentences("fr")[0].audio())
    assert found.ranking is not None
    ranking = found.ranking.languages
    probabilities = [item.probability for item in ranking]
    assert len(ranking) == 99 and len({item.code for item in ranking}) == 99
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert found.ranking.top(3) == ranking[:3]


def test_candidates_restrict_the_answer(recognizer: WhisperRecognizer) -> None:
    audio = sentences("fr")[1].audio()
    found = recognizer.identify_language(audio, ("EN-us", "es"))
    assert found.ranking is not None
    assert {item.code for item in found.ranking.languages} == {"en", "es"}
    assert sum(item.probability for item in found.ranking.languages) == pytest.approx(1.0)
    assert recognizer.identify_language(audio, ("fr-CA", "es-MX")).ranking.best.code == "fr"
    transcript = recognizer.transcribe(audio, TranscribeOptions(language_codes=("en", "es")))
    assert transcript.language in {"en", "es"}
    assert {s.language for s in transcript.segments} <= {"en", "es"}


def test_unknown_candidates_and_conflicting_options_are_refused(
        recognizer: WhisperRecognizer) -> None:
    audio = sentences("es")[0].audio()
    with pytest.raises(InvalidArgument, match="does not know language 'xx-YY'"):
        recognizer.identify_language(audio, ("fr", "xx-YY"))
    with pytest.raises(InvalidArgument, match="language_code and language_codes exclude"):
        TranscribeOptions(language="fr", language_codes=("fr",))
    with pytest.raises(InvalidArgument, match="is not a BCP-47 language tag"):
        recognizer.transcribe(audio, TranscribeOptions(language_codes=(" ",)))


def test_detected_language_and_probability_are_reported(recognizer: WhisperRecognizer) -> None:
    prompt = sentences("es")[2]
    detected = recognizer.transcribe(prompt.audio(), TranscribeOptions())
    identified = recognizer.identify_language(prompt.audio())
    assert identified.ranking is not None
    assert detected.language == identified.ranking.best.code == "es"
    # transcription detects on the window it decodes, identification on a full 30 s one
    assert 0.5 < detected.language_probability <= 1.0
    assert all(s.language == "es" for s in detected.segments)
    forced = recognizer.transcribe(prompt.audio(), TranscribeOptions(language="es-MX"))
    assert (forced.language, forced.language_probability) == ("es", 1.0)
    assert forced.text == detected.text  # the same decode, only the language's origin differs


def test_french_is_translated_to_english(recognizer: WhisperRecognizer) -> None:
    prompt = next(p for p in prompts("fr") if p.name == "check-number-dial-again")
    french = recognizer.transcribe(prompt.audio(), TranscribeOptions())
    english = recognizer.transcribe(prompt.audio(), TranscribeOptions(translate=True))
    assert french.language == english.language == "fr"
    assert "numéro" in french.text
    assert english.text and english.text != french.text
    assert "number" in english.text.lower()
    timed = recognizer.transcribe(prompt.audio(),
                                  TranscribeOptions(translate=True, word_timestamps=True))
    assert [w.word for s in timed.segments for w in s.words] == english.text.split()


def test_each_window_detects_its_own_language(recognizer: WhisperRecognizer,
                                              multilingual: np.ndarray) -> None:
    transcript = recognizer.transcribe(multilingual, TranscribeOptions())
    assert transcript.language == "en"
    english = [s.language for s in transcript.segments if s.end_s <= 26.0]
    german = [s.language for s in transcript.segments if 31.0 <= s.start_s <= 57.0]
    assert len(english) >= 3 and set(english) == {"en"}
    assert len(german) >= 3 and set(german) == {"de"}
    assert all(0.5 < s.language_probability <= 1.0 for s in transcript.segments)


class CountingNetwork(WhisperNetwork):
    """The real network, counting encoder passes and decodes from an empty cache."""

    encodes = 0
    fresh_decodes = 0

    def encode(self, mel: np.ndarray) -> CrossCache:
        self.encodes += 1
        return super().encode(mel)

    def decode(self, tokens: list[int], cache: SelfCache, cross: CrossCache) -> DecoderOutput:
        if cache.n_past == 0:
            self.fresh_decodes += 1
        return super().decode(tokens, cache, cross)


def test_detection_reuses_the_transcription_passes(multilingual_models_dir: Path) -> None:
    folder = multilingual_models_dir / MULTILINGUAL_MODEL
    config = WhisperConfig.from_manifest(json.loads((folder / "manifest.json").read_text()))
    tokenizer = WhisperTokenizer.from_file(folder / "tokenizer.json", config.special.eot)
    audio = sentences("fr")[3].audio()
    counts = {}
    for language in (None, "fr"):
        network = CountingNetwork.open(folder / "encoder.onnx", folder / "decoder.onnx",
                                       RuntimeOptions(device="cpu"), config.dims.n_text_layer,
                                       config.dims.n_text_state)
        options = TranscribeOptions(temperature_fallback=False)
        run = Transcription(config, network, tokenizer, options, language)
        text = " ".join(s.text for s in run.transcribe(audio))
        counts[language] = (network.encodes, network.fresh_decodes, text)
    # detecting: one encoder pass and one decode from scratch (the <|startoftranscript|> step,
    # which decoding then continues), exactly as many as with the language given
    assert counts[None] == counts["fr"]
    assert counts[None][:2] == (1, 1)
