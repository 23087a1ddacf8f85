"""Whisper's token list, for the ids the manifest records: special tokens and languages.

Read from the vocabulary file shipped with CTranslate2 Whisper models (`vocabulary.txt`, one
token a line, or `vocabulary.json`, a list), which unlike tokenizer.json lists the timestamp
tokens too, so every id below `n_vocab` has a string. Token ids become text with the engine's
own tokenizer (server/asr/tokenizer.py), read from the tokenizer.json the export ships.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from voxserve.export.errors import WeightsError
from voxserve.server.asr.config import SpecialTokens

# openai/whisper tokenizer.py: multilingual checkpoints have 51865+ tokens, English-only 51864
MULTILINGUAL_MIN_VOCAB = 51865

_LANGUAGE_TOKEN = re.compile(r"^<\|([a-z]{2,3})\|>$")


@dataclass(frozen=True)
class Vocabulary:
    """Token strings by id, in GPT-2 byte-to-unicode form."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(set(self.tokens)) != len(self.tokens):
            raise WeightsError("vocabulary lists a token twice")

    def id_of(self, token: str) -> int:
        try:
            return self.tokens.index(token)
        except ValueError as err:
            raise WeightsError(f"vocabulary has no {token} token") from err

    def special_tokens(self) -> SpecialTokens:
        no_speech = "<|nospeech|>" if "<|nospeech|>" in self.tokens else "<|nocaptions|>"
        return SpecialTokens(
            sot=self.id_of("<|startoftranscript|>"),
            eot=self.id_of("<|endoftext|>"),
            transcribe=self.id_of("<|transcribe|>"),
            translate=self.id_of("<|translate|>"),
            no_timestamps=self.id_of("<|notimestamps|>"),
            no_speech=self.id_of(no_speech),
            timestamp_begin=self.id_of("<|0.00|>"),
            sot_prev=self.id_of("<|startofprev|>"),
            sot_lm=self.id_of("<|startoflm|>"),
        )

    def languages(self) -> dict[str, int]:
        """Language code -> token id, for the tokens between sot and translate."""
        special = self.special_tokens()
        found = {}
        for token_id in range(special.sot + 1, special.translate):
            match = _LANGUAGE_TOKEN.match(self.tokens[token_id])
            if match:
                found[match.group(1)] = token_id
        return found


def load_vocabulary(folder: Path, n_vocab: int) -> Vocabulary:
    """The vocabulary.txt or vocabulary.json in `folder`; it must list exactly `n_vocab` tokens."""
    text_path, json_path = folder / "vocabulary.txt", folder / "vocabulary.json"
    if text_path.is_file():
        tokens = text_path.read_text(encoding="utf-8").split("\n")
        tokens = tokens[:-1] if tokens and tokens[-1] == "" else tokens
    elif json_path.is_file():
        tokens = json.loads(json_path.read_text(encoding="utf-8"))
    else:
        raise WeightsError(f"{folder} has no vocabulary.txt or vocabulary.json")
    if len(tokens) != n_vocab:
        raise WeightsError(f"vocabulary in {folder} has {len(tokens)} tokens, model has {n_vocab}")
    return Vocabulary(tuple(tokens))


def is_multilingual(n_vocab: int) -> bool:
    return n_vocab >= MULTILINGUAL_MIN_VOCAB
