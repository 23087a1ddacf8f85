"""Parity of the ONNX graphs with the PyTorch module on the same audio, step by step.

The reference (PyTorch) decodes greedily; the candidate (ONNX Runtime) is fed the same tokens
with its own cache and its own encoder output, so every step's logits are comparable and the
candidate's own greedy choice can be checked against the reference's at each step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from voxserve.export.errors import ParityError
from voxserve.export.whisper.greedy import DecodeRules
from voxserve.export.whisper.runners import WhisperRunner, empty_cache
from voxserve.server.asr.tokenizer import WhisperTokenizer

# fp32 graphs agree with PyTorch to ~1e-4 (operator fusion reorders sums); 1e-2 on logits is far
# below the gaps between competing tokens that decide a transcript
FP32_TOLERANCE = 1e-2


@dataclass(frozen=True)
class ParityCase:
    """One input: a log-mel [1, n_mels, n_frames], what it is, and how many steps to decode."""

    mel: np.ndarray
    audio: str
    max_steps: int

    def __post_init__(self) -> None:
        if self.mel.ndim != 3 or self.mel.shape[0] != 1 or self.mel.shape[2] % 2:
            raise ValueError("parity mel must be [1, n_mels, even n_frames]")


@dataclass(frozen=True)
class CaseResult:
    """Largest differences over one case, and the reference's tokens."""

    max_abs_diff_logits: float
    max_abs_diff_cross_k: float
    max_abs_diff_cross_attn: float
    tokens: tuple[int, ...]
    tokens_agree: bool


@dataclass(frozen=True)
class ParityReport:
    """Worst differences over all cases; `passed` is judged against `tolerance`."""

    max_abs_diff_logits: float
    max_abs_diff_cross_k: float
    max_abs_diff_cross_attn: float
    tolerance: float
    tokens_agree: bool
    audio: str
    transcript: str

    @property
    def passed(self) -> bool:
        worst = max(self.max_abs_diff_logits, self.max_abs_diff_cross_k,
                    self.max_abs_diff_cross_attn)
        return self.tokens_agree and worst < self.tolerance

    def as_manifest(self) -> dict[str, object]:
        return {
            "max_abs_diff_logits": self.max_abs_diff_logits,
            "max_abs_diff_cross_k": self.max_abs_diff_cross_k,
            "max_abs_diff_cross_attn": self.max_abs_diff_cross_attn,
            "tolerance": self.tolerance,
            "greedy_tokens_agree": self.tokens_agree,
            "audio": self.audio,
            "transcript": self.transcript,
        }


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ParityError(f"output shapes differ: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)), initial=0.0))


def compare_case(
    reference: WhisperRunner, candidate: WhisperRunner, case: ParityCase, rules: DecodeRules
) -> CaseResult:
    """Decode `case` with the reference, feeding the candidate the same tokens."""
    ref_k, ref_v = reference.encode(case.mel)
    cand_k, cand_v = candidate.encode(case.mel)
    diff_cross = max(_max_diff(ref_k, cand_k), _max_diff(ref_v, cand_v))
    # self-attention keys and values: both start empty
    ref_cache = (empty_cache(reference), empty_cache(reference))
    cand_cache = (empty_cache(candidate), empty_cache(candidate))
    step = np.array([rules.prompt], dtype=np.int64)
    diff_logits = diff_attn = 0.0
    tokens: list[int] = []
    agree = True
    for _ in range(case.max_steps):
        ref_logits, ref_self_k, ref_self_v, ref_attn = reference.decode(
            step, *ref_cache, ref_k, ref_v)
        cand_logits, cand_self_k, cand_self_v, cand_attn = candidate.decode(
            step, *cand_cache, cand_k, cand_v)
        ref_cache, cand_cache = (ref_self_k, ref_self_v), (cand_self_k, cand_self_v)
        diff_logits = max(diff_logits, _max_diff(ref_logits, cand_logits))
        diff_attn = max(diff_attn, _max_diff(ref_attn, cand_attn))
        token = rules.next_token(ref_logits[0, -1], tokens)
        agree = agree and rules.next_token(cand_logits[0, -1], tokens) == token
        if token == rules.eot:
            break
        tokens.append(token)
        step = np.array([[token]], dtype=np.int64)
    return CaseResult(diff_logits, diff_cross, diff_attn, tuple(tokens), agree)


def check_parity(
    reference: WhisperRunner, candidate: WhisperRunner, cases: Sequence[ParityCase],
    rules: DecodeRules, tokenizer: WhisperTokenizer, tolerance: float = FP32_TOLERANCE,
) -> ParityReport:
    """Compare every case; raise ParityError past `tolerance` or when greedy choices differ.

    The report keeps the reference transcript of the first case.
    """
    results = [compare_case(reference, candidate, case, rules) for case in cases]
    report = ParityReport(
        max_abs_diff_logits=max(r.max_abs_diff_logits for r in results),
        max_abs_diff_cross_k=max(r.max_abs_diff_cross_k for r in results),
        max_abs_diff_cross_attn=max(r.max_abs_diff_cross_attn for r in results),
        tolerance=tolerance,
        tokens_agree=all(r.tokens_agree for r in results),
        audio="; ".join(case.audio for case in cases),
        transcript=tokenizer.decode(list(results[0].tokens)).strip() if results else "",
    )
    if not report.passed:
        raise ParityError(
            f"ONNX export disagrees with PyTorch: max |diff| logits "
            f"{report.max_abs_diff_logits:.3g}, cross_k {report.max_abs_diff_cross_k:.3g}, "
            f"cross_attn {report.max_abs_diff_cross_attn:.3g} (tolerance {tolerance:g}), "
            f"greedy tokens agree: {report.tokens_agree}"
        )
    return report
