"""A minimal greedy decoder, enough to check that an export still transcribes.

Not the server's decoder (no timestamps, fallback or loop guard): it transcribes one short
utterance without timestamps, applying Whisper's token suppression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxserve.export.whisper.runners import WhisperRunner, empty_cache
from voxserve.export.whisper.vocabulary import SpecialTokens


@dataclass(frozen=True)
class DecodeRules:
    """The prompt and the token-suppression rules of a no-timestamps transcription."""

    prompt: tuple[int, ...]
    eot: int
    timestamp_begin: int
    suppress_tokens: tuple[int, ...]
    suppress_tokens_at_begin: tuple[int, ...]
    max_tokens: int

    def __post_init__(self) -> None:
        if not self.prompt or self.max_tokens <= 0:
            raise ValueError("a prompt and a positive max_tokens are needed")

    def next_token(self, logits: np.ndarray, first: bool) -> int:
        """The allowed token with the highest logit (logits: [n_vocab] of the last position)."""
        masked = np.array(logits, dtype=np.float32, copy=True)
        masked[list(self.suppress_tokens)] = -np.inf
        masked[self.timestamp_begin :] = -np.inf
        if first:
            masked[list(self.suppress_tokens_at_begin)] = -np.inf
        return int(np.argmax(masked))


def transcribe_rules(
    special: SpecialTokens, language_token: int | None, suppress: tuple[int, ...],
    suppress_at_begin: tuple[int, ...], max_tokens: int,
) -> DecodeRules:
    """Rules for transcribing (not translating), without timestamps."""
    prompt = [special.sot]
    if language_token is not None:
        prompt += [language_token, special.transcribe]
    prompt.append(special.no_timestamps)
    return DecodeRules(tuple(prompt), special.eot, special.timestamp_begin, suppress,
                       suppress_at_begin, max_tokens)


def greedy_decode(runner: WhisperRunner, mel: np.ndarray, rules: DecodeRules) -> list[int]:
    """Token ids after the prompt, up to (not including) end-of-text; mel: [1, n_mels, frames]."""
    cross_k, cross_v = runner.encode(mel)
    self_k = self_v = empty_cache(runner)
    step = np.array([rules.prompt], dtype=np.int64)
    generated: list[int] = []
    while len(generated) < rules.max_tokens:
        logits, self_k, self_v, _ = runner.decode(step, self_k, self_v, cross_k, cross_v)
        token = rules.next_token(logits[0, -1], first=not generated)
        if token == rules.eot:
            break
        generated.append(token)
        step = np.array([[token]], dtype=np.int64)
    return generated
