"""ParityResult: the exported graph against the PyTorch model on the same ids, noise off.

With noise_scale and noise_w at 0, VITS is deterministic, so the ONNX Runtime audio must match
the PyTorch audio sample for sample: first in length (durations are rounded up, so a drift in
the duration predictor shows as a different length), then in value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from voxserve.export.errors import ParityError
from voxserve.export.vits.model import Synthesizer
from voxserve.export.voice_folder import graph_inputs
from voxserve.server.runtime import RuntimeOptions, create_session

# Audio is in [-1, 1]; 1e-3 is about -60 dBFS, far below audibility. Float32 graphs of Piper's
# medium size land near 1e-6 on CPU.
PARITY_TOLERANCE = 1e-3
# Phonemes per test utterance: one short (inside the 4-token attention window), one long.
PARITY_PHONEMES = (3, 40)
# Piper's special symbols (piper_train/phonemize.py): bos, eos, and the pad between phonemes.
BOS, EOS, PAD = "^", "$", "_"


@dataclass(frozen=True)
class ParityResult:
    """The worst sample difference over every (ids, speaker) case, whose lengths all matched."""

    tolerance: float
    max_abs_diff: float
    id_counts: tuple[int, ...]
    speaker_ids: tuple[int, ...]
    samples: tuple[int, ...]  # audio length of each case, ids x speakers

    def __post_init__(self) -> None:
        if not self.tolerance > 0:
            raise ValueError(f"tolerance must be > 0, not {self.tolerance}")

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance  # False for NaN too

    def as_manifest(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance,
                "id_counts": list(self.id_counts), "speaker_ids": list(self.speaker_ids),
                "noise_scale": 0.0, "noise_w": 0.0}


def parity_ids(phoneme_id_map: Mapping[str, list[int]], n_phonemes: int) -> list[int]:
    """Ids laid out as Piper's phonemizer does (bos, pad after each phoneme, eos), cycling
    through the map's phonemes in sorted order so every test touches many embeddings."""
    phonemes = sorted(p for p in phoneme_id_map if p not in (BOS, EOS, PAD))
    pad = phoneme_id_map.get(PAD, [])
    ids = list(phoneme_id_map.get(BOS, [])) + list(pad)
    for phoneme in itertools.islice(itertools.cycle(phonemes), n_phonemes):
        ids += list(phoneme_id_map[phoneme]) + list(pad)
    return ids + list(phoneme_id_map.get(EOS, []))


def check_parity(
    model: Synthesizer, onnx_path: Path, voice_config: Mapping[str, Any],
    tolerance: float = PARITY_TOLERANCE,
) -> ParityResult:
    """Run both on every case; ParityError on a length mismatch or a difference past tolerance."""
    # CPU and one thread: parity checks the graph's arithmetic, not a device or a thread pool
    session = create_session(onnx_path, RuntimeOptions(device="cpu", intra_op_threads=1))
    names = graph_inputs(model.config.num_speakers)
    speakers = sorted({0, model.config.num_speakers - 1})
    length_scale = float(voice_config["inference"]["length_scale"])
    scales = np.array([0.0, length_scale, 0.0], dtype=np.float32)
    cases = [parity_ids(voice_config["phoneme_id_map"], n) for n in PARITY_PHONEMES]
    worst, samples = 0.0, []
    for ids, speaker in itertools.product(cases, speakers):
        feeds = {"input": np.array([ids], dtype=np.int64),
                 "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales,
                 "sid": np.array([speaker], dtype=np.int64)}
        onnx_audio = session.run(["output"], {name: feeds[name] for name in names})[0]
        torch_audio = _torch_audio(model, ids, speaker, length_scale)
        if onnx_audio.shape != torch_audio.shape:
            raise ParityError(
                f"{len(ids)} ids, speaker {speaker}: ONNX gives audio of shape "
                f"{onnx_audio.shape}, PyTorch {torch_audio.shape}"
            )
        diff = float(np.abs(onnx_audio - torch_audio).max())
        worst = diff if diff > worst or math.isnan(diff) else worst  # a NaN sticks
        samples.append(int(torch_audio.shape[-1]))
    result = ParityResult(tolerance, worst, tuple(len(ids) for ids in cases), tuple(speakers),
                          tuple(samples))
    if not result.passed:
        raise ParityError(
            f"ONNX audio differs from PyTorch by up to {worst:.3g}, past the tolerance "
            f"{tolerance:g}"
        )
    return result


def _torch_audio(model: Synthesizer, ids: list[int], speaker: int, length_scale: float) -> Any:
    sid = torch.tensor([speaker]) if model.config.is_multispeaker else None
    with torch.no_grad():
        audio = model.infer(torch.tensor([ids]), torch.tensor([len(ids)]), noise_scale=0.0,
                            length_scale=length_scale, noise_w=0.0, sid=sid)
    return audio.unsqueeze(1).numpy()  # the graph's [batch, 1, 1, samples]
