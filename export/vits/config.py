"""VitsConfig: the hyper-parameters that fix the shape of a Piper VITS generator."""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Piper's ResBlock dilations per block type; its trainer only ever uses these two
# (piper_train/__main__.py: "high" quality uses type "1", x-low/medium use type "2").
PIPER_RESBLOCK_DILATIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "1": ((1, 3, 5), (1, 3, 5), (1, 3, 5)),
    "2": ((1, 2), (2, 6), (3, 12)),
}
# Piper gives multi-speaker models a 512-channel speaker embedding when none is set
# (vits/lightning.py, VitsModel.__init__).
PIPER_MULTISPEAKER_GIN_CHANNELS = 512
# Piper computes spectrograms with a 1024-point FFT: 513 linear bins feed the posterior encoder.
PIPER_FILTER_LENGTH = 1024


@dataclass(frozen=True)
class VitsConfig:
    """SynthesizerTrn's constructor arguments (Piper names); defaults are Piper's "medium"."""

    num_symbols: int
    num_speakers: int = 1
    spec_channels: int = PIPER_FILTER_LENGTH // 2 + 1
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    resblock: str = "2"
    resblock_kernel_sizes: tuple[int, ...] = (3, 5, 7)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = PIPER_RESBLOCK_DILATIONS["2"]
    upsample_rates: tuple[int, ...] = (8, 8, 4)
    upsample_initial_channel: int = 256
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8)
    gin_channels: int = 0
    use_sdp: bool = True

    def __post_init__(self) -> None:
        for name in ("num_symbols", "num_speakers", "spec_channels", "inter_channels",
                     "hidden_channels", "filter_channels", "n_heads", "n_layers", "kernel_size",
                     "upsample_initial_channel"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.hidden_channels % self.n_heads:
            raise ValueError(
                f"hidden_channels ({self.hidden_channels}) must divide by n_heads ({self.n_heads})"
            )
        if self.inter_channels % 2:
            raise ValueError(f"inter_channels must be even (coupling splits it), not "
                             f"{self.inter_channels}")
        if self.num_speakers > 1 and self.gin_channels < 1:
            raise ValueError("a multi-speaker model needs gin_channels >= 1")
        self._check_generator()

    def _check_generator(self) -> None:
        if self.resblock not in PIPER_RESBLOCK_DILATIONS:
            raise ValueError(f"resblock must be '1' or '2', not {self.resblock!r}")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise ValueError("resblock_kernel_sizes and resblock_dilation_sizes differ in length")
        n_dilations = 3 if self.resblock == "1" else 2
        if any(len(d) != n_dilations for d in self.resblock_dilation_sizes):
            raise ValueError(f"resblock {self.resblock} takes {n_dilations} dilations per block")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise ValueError("upsample_rates and upsample_kernel_sizes differ in length")
        if self.upsample_initial_channel >> len(self.upsample_rates) < 1:
            raise ValueError("upsample_initial_channel is too small to halve at every upsampling")

    @property
    def hop_length(self) -> int:
        """Audio samples per spectrogram frame: the generator's total upsampling."""
        return math.prod(self.upsample_rates)

    @property
    def is_multispeaker(self) -> bool:
        return self.num_speakers > 1

    @classmethod
    def from_hyper_parameters(cls, hyper_parameters: Mapping[str, Any]) -> VitsConfig:
        """The config of a Lightning checkpoint's `hyper_parameters` (VitsModel's arguments)."""
        hp = dict(hyper_parameters)
        if "num_symbols" not in hp:
            raise ValueError("hyper_parameters lack num_symbols")
        names = {f.name for f in fields(cls)}
        values = {name: _literal(hp[name]) for name in names if name in hp}
        if "filter_length" in hp:
            values["spec_channels"] = int(hp["filter_length"]) // 2 + 1
        num_speakers = int(values.get("num_speakers", 1))
        if num_speakers > 1 and int(values.get("gin_channels", 0)) <= 0:
            values["gin_channels"] = PIPER_MULTISPEAKER_GIN_CHANNELS
        return cls(**_normalised(values))


def _literal(value: Any) -> Any:
    """Piper's LightningCLI may store tuples as their Python text, e.g. "(8, 8, 4)"."""
    if isinstance(value, str) and value[:1] in "([":
        return ast.literal_eval(value)
    return value


def _normalised(values: dict[str, Any]) -> dict[str, Any]:
    """Lists (JSON, YAML) to tuples and numbers to the field types, so configs compare equal."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == "resblock_dilation_sizes":
            out[name] = tuple(tuple(int(d) for d in block) for block in value)
        elif name in ("resblock_kernel_sizes", "upsample_rates", "upsample_kernel_sizes"):
            out[name] = tuple(int(v) for v in value)
        elif name == "resblock":
            out[name] = str(value)
        elif name == "use_sdp":
            out[name] = bool(value)
        else:
            out[name] = int(value)
    return out
