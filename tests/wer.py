"""The tests' scoring: bench/scoring.py's (Whisper's English normaliser, then word edits)."""

from bench.scoring import echoes, normalise, wer

__all__ = ["echoes", "normalise", "wer"]
