"""openai-whisper `.pt` checkpoints: `{"dims": {...}, "model_state_dict": {...}}`."""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from voxserve.export.errors import WeightsError
from voxserve.export.whisper.model import ModelDimensions

# Buffers openai does not persist but that some re-saved checkpoints carry; derived, not weights.
_DERIVED_KEYS = ("decoder.mask", "alignment_heads")


def load_openai_checkpoint(
    path: Path,
) -> tuple[ModelDimensions, dict[str, np.ndarray], tuple[tuple[int, int], ...] | None]:
    """-> (dims, float32 state dict, alignment heads if the checkpoint lists them)."""
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as err:
        raise WeightsError(f"{path} is not a readable PyTorch checkpoint: {err}") from err
    if not isinstance(checkpoint, Mapping) or not {"dims", "model_state_dict"} <= checkpoint.keys():
        raise WeightsError(f"{path} is not an openai Whisper checkpoint (needs dims and "
                           "model_state_dict)")
    try:
        dims = ModelDimensions(**checkpoint["dims"])
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{path} has invalid dims: {err}") from err
    state = {
        name: tensor.detach().to(torch.float32).numpy()
        for name, tensor in checkpoint["model_state_dict"].items()
        if name not in _DERIVED_KEYS
    }
    return dims, state, _alignment_heads(checkpoint.get("alignment_heads"), path)


def _alignment_heads(value: object, path: Path) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    try:
        return tuple((int(layer), int(head)) for layer, head in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as err:
        raise WeightsError(f"{path}: alignment_heads must be [[layer, head], ...]") from err


def save_openai_checkpoint(
    path: Path,
    dims: ModelDimensions,
    state_dict: Mapping[str, torch.Tensor],
    alignment_heads: Sequence[tuple[int, int]] | None = None,
) -> None:
    """Write a checkpoint openai-whisper's `load_model` reads; heads go in an extra key."""
    checkpoint: dict[str, object] = {
        "dims": dims.as_dict(),
        "model_state_dict": {name: tensor.detach().clone() for name, tensor in state_dict.items()},
    }
    if alignment_heads is not None:
        checkpoint["alignment_heads"] = [list(pair) for pair in alignment_heads]
    torch.save(checkpoint, path)
