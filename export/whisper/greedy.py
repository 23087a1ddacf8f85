"""A minimal greedy decoder over a WhisperRunner, enough to check that an export still transcribes.

Each token is chosen under the engine's own logit rules (server/asr/decoding.py `LogitRules`:
token suppression, no timestamp tokens), but without the engine's fallback or loop guard: it
transcribes one short utterance, and a parity check must see every step both graphs take.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voxserve.export.whisper.runners import WhisperRunner, empty_cache
from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.decoding import LogitRules, WindowRequest


@dataclass(frozen=True)
class DecodeRules:
    """The prompt, the logit rules of a no-timestamps transcription and a token budget."""

    prompt: tuple[int, ...]
    eot: int
    max_tokens: int
    logit_rules: LogitRules

    def __post_init__(self) -> None:
        if not self.prompt or self.max_tokens <= 0:
            raise ValueError("a prompt and a positive max_tokens are needed")

    def next_token(self, logits: np.ndarray, sampled: Sequence[int]) -> int:
        """The allowed token with the highest logit after `sampled` (logits: [n_vocab])."""
        masked = np.array(logits, dtype=np.float32, copy=True)
        self.logit_rules.apply(masked, list(sampled))
        return int(np.argmax(masked))


def transcribe_rules(config: WhisperConfig, language: str | None, max_tokens: int) -> DecodeRules:
    """Rules for transcribing (not translating) in `language` (None: an English-only model),
    without timestamps, as the engine builds them for its interim results."""
    special = config.special
    sot = [special.sot]
    if language is not None:
        sot += [config.languages[language], special.transcribe]
    request = WindowRequest(
        sot_sequence=tuple(sot),
        content_frames=config.n_audio_frames,
        without_timestamps=True,
        max_initial_timestamp_s=0.0,  # no timestamps are sampled
    )
    return DecodeRules(
        (*sot, special.no_timestamps), special.eot, max_tokens, LogitRules(config, request)
    )


def greedy_decode(runner: WhisperRunner, mel: np.ndarray, rules: DecodeRules) -> list[int]:
    """Token ids after the prompt, up to (not including) end-of-text; mel: [1, n_mels, frames]."""
    cross_k, cross_v = runner.encode(mel)
    self_k = self_v = empty_cache(runner)
    step = np.array([rules.prompt], dtype=np.int64)
    generated: list[int] = []
    while len(generated) < rules.max_tokens:
        logits, self_k, self_v, _ = runner.decode(step, self_k, self_v, cross_k, cross_v)
        token = rules.next_token(logits[0, -1], generated)
        if token == rules.eot:
            break
        generated.append(token)
        step = np.array([[token]], dtype=np.int64)
    return generated
