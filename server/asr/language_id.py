"""Spoken-language identification: Whisper's language tokens ranked from the decoder's first step.

Whisper predicts the language as the token after <|startoftranscript|>. The transcription runs
that step anyway (its logits also give the no-speech probability), so ranking languages costs no
second encoder pass and no extra decoder token: `first_step()` is shared by detection and
decoding (`decode_window(start=...)`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.decoding import log_softmax
from voxserve.server.asr.network import CrossCache, DecoderOutput, WhisperNetwork
from voxserve.server.errors import InvalidArgument
from voxserve.server.language import primary_subtag


@dataclass(frozen=True)
class LanguageProbability:
    """One language (primary subtag, "fr") and its probability among the candidates."""

    code: str
    probability: float


@dataclass(frozen=True)
class LanguageRanking:
    """Languages from the most to the least probable; probabilities sum to 1."""

    languages: tuple[LanguageProbability, ...]

    def __post_init__(self) -> None:
        if not self.languages:
            raise ValueError("a ranking needs at least one language")
        probabilities = [item.probability for item in self.languages]
        if probabilities != sorted(probabilities, reverse=True):
            raise ValueError("languages must be sorted by decreasing probability")

    @property
    def best(self) -> LanguageProbability:
        """The most probable language."""
        return self.languages[0]

    def top(self, count: int) -> tuple[LanguageProbability, ...]:
        """The `count` most probable languages (all when there are fewer)."""
        return self.languages[:count]


def candidate_codes(config: WhisperConfig, requested: Iterable[str]) -> tuple[str, ...]:
    """The model's languages that detection may choose from: all of them when `requested` is
    empty, else the requested ones (BCP-47, read by primary subtag, duplicates merged)."""
    codes: list[str] = []
    for tag in requested:
        code = primary_subtag(tag, "config.language_codes")
        if code not in config.languages:
            raise InvalidArgument(
                f"model {config.name} does not know language {tag.strip()!r} (in "
                f"config.language_codes); it knows {', '.join(sorted(config.languages))}",
                field="config.language_codes",
            )
        if code not in codes:
            codes.append(code)
    return tuple(codes) or tuple(config.languages)


def first_step(network: WhisperNetwork, cross: CrossCache, config: WhisperConfig) -> DecoderOutput:
    """The decoder on <|startoftranscript|> alone: logits [1, vocab] and the cache holding it."""
    return network.decode([config.special.sot], network.empty_cache(), cross)


def rank_languages(logits_at_sot: np.ndarray, config: WhisperConfig,
                   candidates: tuple[str, ...]) -> LanguageRanking:
    """Softmax over the candidates' language tokens (whisper's detect_language, restricted to
    the candidates as faster-whisper does): the other tokens are ruled out, not scored."""
    ids = np.asarray([config.languages[code] for code in candidates], dtype=np.int64)
    probabilities = np.exp(log_softmax(logits_at_sot[ids].astype(np.float32)))
    order = np.argsort(-probabilities, kind="stable")
    return LanguageRanking(tuple(
        LanguageProbability(candidates[i], float(probabilities[i])) for i in order
    ))
