"""The facts of one exported Whisper model, read and checked from its manifest.json."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voxserve.server.asr.contract import check_tensor_names
from voxserve.server.errors import ModelLoadError

_DIM_KEYS = (
    "n_mels",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_vocab",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
)
_SPECIAL_KEYS = (
    "sot",
    "eot",
    "transcribe",
    "translate",
    "no_timestamps",
    "no_speech",
    "timestamp_begin",
    "sot_prev",
    "sot_lm",
)


@dataclass(frozen=True)
class ModelDims:
    """Whisper's ModelDimensions, as stored by the exporter."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of Whisper's control tokens."""

    sot: int
    eot: int
    transcribe: int
    translate: int
    no_timestamps: int
    no_speech: int
    timestamp_begin: int
    sot_prev: int
    sot_lm: int


@dataclass(frozen=True)
class WhisperConfig:
    """Dimensions, special tokens and decoding lists of one Whisper model."""

    name: str
    dims: ModelDims
    multilingual: bool
    special: SpecialTokens
    languages: dict[str, int]  # language code -> language token (multilingual models only)
    language_codes: tuple[str, ...]
    suppress_tokens: tuple[int, ...]
    suppress_tokens_at_begin: tuple[int, ...]
    alignment_heads: tuple[tuple[int, int], ...]
    sample_rate_hz: int
    description: str

    def __post_init__(self) -> None:
        if self.special.timestamp_begin >= self.dims.n_vocab:
            raise ModelLoadError(f"model {self.name}: timestamp_begin lies outside the vocabulary")
        if self.multilingual and not self.languages:
            raise ModelLoadError(f"model {self.name}: multilingual but lists no languages")
        if not self.language_codes:
            raise ModelLoadError(f"model {self.name}: manifest lists no language_codes")
        for layer, head in self.alignment_heads:
            if not (0 <= layer < self.dims.n_text_layer and 0 <= head < self.dims.n_text_head):
                raise ModelLoadError(f"model {self.name}: alignment head {layer},{head} is invalid")

    @property
    def n_audio_frames(self) -> int:
        """Mel frames in a full 30 s window (the encoder halves them)."""
        return 2 * self.dims.n_audio_ctx

    @property
    def max_text_tokens(self) -> int:
        """Most tokens one window may sample (whisper: half the text context)."""
        return self.dims.n_text_ctx // 2

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> WhisperConfig:
        """Parse the common keys and the "whisper" section; ModelLoadError names what is wrong."""
        name = str(manifest.get("name", "?"))
        try:
            section = manifest["whisper"]
            dims = ModelDims(**{key: int(section["dims"][key]) for key in _DIM_KEYS})
            special = SpecialTokens(**{k: int(section["special_tokens"][k]) for k in _SPECIAL_KEYS})
            languages = {str(k): int(v) for k, v in section.get("languages", {}).items()}
            multilingual = bool(section["multilingual"])
            codes = tuple(str(c) for c in manifest.get("language_codes") or languages or ["en"])
            config = cls(
                name=name,
                dims=dims,
                multilingual=multilingual,
                special=special,
                languages=languages,
                language_codes=codes,
                suppress_tokens=tuple(int(t) for t in section.get("suppress_tokens", [])),
                suppress_tokens_at_begin=tuple(
                    int(t) for t in section.get("suppress_tokens_at_begin", [])
                ),
                alignment_heads=tuple(
                    (int(layer), int(head)) for layer, head in section.get("alignment_heads", [])
                ),
                sample_rate_hz=int(manifest.get("sample_rate_hz", 16000)),
                description=str(manifest.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"model {name}: bad whisper manifest ({exc!r})") from exc
        check_tensor_names(section.get("tensor_names"), name)
        return config
