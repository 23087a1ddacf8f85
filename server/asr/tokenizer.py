"""Whisper's byte-level BPE vocabulary read from tokenizer.json: ids to text, and word splits."""

from __future__ import annotations

import functools
import json
import string
from pathlib import Path

from voxserve.server.errors import ModelLoadError

_REPLACEMENT_CHAR = "\ufffd"


@functools.cache
def _unicode_to_byte() -> dict[str, int]:
    """GPT-2's reversible byte <-> printable-character table, inverted."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = list(printable)
    shift = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + shift)
            shift += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


class WhisperTokenizer:
    """Decodes token ids; ids at or above `eot` are special (control and timestamp tokens)."""

    def __init__(self, token_bytes: dict[int, bytes], specials: dict[int, str], eot: int) -> None:
        self._token_bytes = token_bytes
        self._specials = specials
        self.eot = eot

    @classmethod
    def from_file(cls, path: Path, eot: int) -> WhisperTokenizer:
        """Read a Hugging Face tokenizers JSON file with a byte-level BPE model."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            vocab: dict[str, int] = data["model"]["vocab"]
            added = {int(t["id"]): str(t["content"]) for t in data.get("added_tokens", [])}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"tokenizer file {path.name} is unreadable: {exc}") from exc
        table = _unicode_to_byte()
        token_bytes: dict[int, bytes] = {}
        for text, token in vocab.items():
            if token not in added:
                try:
                    token_bytes[token] = bytes(table[char] for char in text)
                except KeyError as exc:
                    raise ModelLoadError(f"{path.name} is not a byte-level BPE vocabulary") from exc
        return cls(token_bytes, added, eot)

    @property
    def vocab_size(self) -> int:
        """Number of known ids (regular and special)."""
        return len(self._token_bytes) + len(self._specials)

    def token_bytes(self, token: int) -> bytes:
        """The raw bytes of a text token (b'' for special tokens)."""
        return self._token_bytes.get(token, b"")

    def decode(self, tokens: list[int]) -> str:
        """Text of the text tokens; special and timestamp tokens are dropped."""
        data = b"".join(self._token_bytes.get(t, b"") for t in tokens if t < self.eot)
        return data.decode("utf-8", errors="replace")

    def decode_with_specials(self, tokens: list[int]) -> str:
        """Text with special tokens spelled out (unknown ids as <|id|>), for word splits."""
        parts: list[str] = []
        pending = b""
        for token in tokens:
            if token in self._token_bytes:
                pending += self._token_bytes[token]
                continue
            parts.append(pending.decode("utf-8", errors="replace"))
            pending = b""
            parts.append(self._specials.get(token, f"<|{token}|>"))
        parts.append(pending.decode("utf-8", errors="replace"))
        return "".join(parts)

    def split_on_unicode(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        """Group tokens into complete UTF-8 characters (whisper's split_tokens_on_unicode)."""
        full = self.decode_with_specials(tokens)
        words: list[str] = []
        word_tokens: list[list[int]] = []
        current: list[int] = []
        offset = 0
        for token in tokens:
            current.append(token)
            decoded = self.decode_with_specials(current)
            if (
                _REPLACEMENT_CHAR not in decoded
                or full[offset + decoded.index(_REPLACEMENT_CHAR)] == _REPLACEMENT_CHAR
            ):
                words.append(decoded)
                word_tokens.append(current)
                current = []
                offset += len(decoded)
        return words, word_tokens

    def split_on_spaces(self, tokens: list[int]) -> tuple[list[str], list[list[int]]]:
        """Group tokens into words that start at a space or are punctuation (whisper's rule)."""
        words: list[str] = []
        word_tokens: list[list[int]] = []
        for subword, sub_tokens in zip(*self.split_on_unicode(tokens), strict=True):
            special = sub_tokens[0] >= self.eot
            with_space = subword.startswith(" ")
            punctuation = subword.strip() in string.punctuation
            if special or with_space or punctuation or not words:
                words.append(subword)
                word_tokens.append(list(sub_tokens))
            else:
                words[-1] += subword
                word_tokens[-1].extend(sub_tokens)
        return words, word_tokens

    def split_to_word_tokens(
        self, tokens: list[int], language: str
    ) -> tuple[list[str], list[list[int]]]:
        """Words and their tokens; languages written without spaces split per character."""
        if language in {"zh", "ja", "th", "lo", "my", "yue"}:
            return self.split_on_unicode(tokens)
        return self.split_on_spaces(tokens)
