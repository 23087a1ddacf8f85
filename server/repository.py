"""ModelRepository: the models found in the repository folder, loaded once and never mutated."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from voxserve.server.engines import RECOGNIZERS, VOICES, Recognizer, Voice
from voxserve.server.errors import InvalidArgument, ModelLoadError, ModelNotFound
from voxserve.server.language import normalize_language_code, primary_subtag
from voxserve.server.runtime import RuntimeOptions, uses_cuda
from voxserve.server.streaming.vad import SileroModel

log = logging.getLogger("voxserve.repository")

MANIFEST = "manifest.json"
# The manifest layout this server reads; the exporter writes it (export/manifest.py).
FORMAT_VERSION = 1
KINDS = ("recognizer", "voice")
Engine = TypeVar("Engine", Recognizer, Voice)
# kind -> family -> the loader of its engine (server/engines.py)
LOADERS: dict[str, Mapping[str, object]] = {"recognizer": RECOGNIZERS, "voice": VOICES}


class SileroSlot:
    """Silero VAD's shared session, owned by the repository like the other models: loaded once,
    at start-up when it is the server's default detector (`--vad silero`), else on the first
    stream that asks for it; kept for the server's life. Thread-safe: call get() on the pool."""

    def __init__(self, loader: Callable[[], SileroModel] = SileroModel.load) -> None:
        self._loader = loader
        self._model: SileroModel | None = None
        self._lock = threading.Lock()

    def get(self) -> SileroModel:
        """The model, loaded now if it is not yet (blocking); ModelLoadError when it cannot be,
        and the next call tries again."""
        with self._lock:
            if self._model is None:
                self._model = self._loader()
                log.info("loaded Silero VAD from %s", self._model.path)
            return self._model


@dataclass(frozen=True)
class ModelRepository:
    """Loaded recognizers and voices by name, plus the defaults of each kind."""

    recognizers: dict[str, Recognizer] = field(default_factory=dict)
    voices: dict[str, Voice] = field(default_factory=dict)
    default_recognizer: str = ""
    default_voice: str = ""
    families: dict[str, str] = field(default_factory=dict)
    load_time_s: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)  # see model_version()
    silero: SileroSlot = field(default_factory=SileroSlot)

    def recognizer(self, name: str = "", language_codes: Sequence[str] = ()) -> Recognizer:
        """The named recognizer; with no name the default one, unless the request names
        languages (`language_code` or candidates) it does not speak: then the first recognizer
        by name that speaks them all (a French request reaches a multilingual model)."""
        if name or not language_codes:
            return _pick(self.recognizers, name or self.default_recognizer, "recognizer model")
        for candidate in [self.default_recognizer, *sorted(self.recognizers)]:
            engine = self.recognizers.get(candidate)
            if engine is not None and all(_knows(engine, code) for code in language_codes):
                return engine
        return _pick(self.recognizers, self.default_recognizer, "recognizer model")

    def voice(self, name: str = "", language_code: str = "") -> Voice:
        """The named voice (or the default), or with no name the voice for `language_code`:
        the default voice when it speaks it, else the first by name that does."""
        if name or not language_code:
            voice = _pick(self.voices, name or self.default_voice, "voice")
            if language_code and not _speaks(voice, language_code):
                raise InvalidArgument(
                    f"voice {voice.info.name!r} speaks {', '.join(voice.info.language_codes)},"
                    f" not config.language_code {language_code!r}"
                )
            return voice
        candidates = [self.default_voice, *sorted(self.voices)]
        for candidate in candidates:
            if candidate in self.voices and _speaks(self.voices[candidate], language_code):
                return self.voices[candidate]
        raise ModelNotFound(f"no voice speaks config.language_code {language_code!r}")


def _knows(recognizer: Recognizer, language_code: str) -> bool:
    """A recognizer knows a tag when it knows the tag's primary language (a malformed tag is
    known by none: the chosen engine's own check then names it)."""
    try:
        wanted = primary_subtag(language_code, "config.language_code")
    except InvalidArgument:
        return False
    return any(primary_subtag(code) == wanted for code in recognizer.info.language_codes)


def _speaks(voice: Voice, language_code: str) -> bool:
    """A voice speaks a tag when their languages match and, where the tag names a region,
    its region matches too ("en" and "en-US" are spoken by an en-US voice, "en-GB" is not)."""
    wanted = normalize_language_code(language_code, "config.language_code")
    for code in voice.info.language_codes:
        spoken = normalize_language_code(code)
        same = spoken.split("-")[0] == wanted.split("-")[0]
        if wanted == spoken or same and ("-" not in wanted or "-" not in spoken):
            return True
    return False


def _pick(models: dict[str, Engine], name: str, what: str) -> Engine:
    if not models:
        raise ModelNotFound(f"the server holds no {what}")
    try:
        return models[name]
    except KeyError:
        raise ModelNotFound(
            f"unknown {what} {name!r}; available: {', '.join(sorted(models))}"
        ) from None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of one model folder, checked for the keys every model has."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable manifest ({exc})") from exc
    for key in ("format_version", "name", "kind", "family", "files"):
        if key not in manifest:
            raise ModelLoadError(f"{path}: manifest lacks {key!r}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ModelLoadError(
            f"{path}: format_version {manifest['format_version']!r} is not the one this server"
            f" reads ({FORMAT_VERSION}); re-export the model with this version of voxserve"
        )
    if manifest["kind"] not in KINDS:
        raise ModelLoadError(f"{path}: kind must be one of {KINDS}, not {manifest['kind']!r}")
    if manifest["family"] not in LOADERS[manifest["kind"]]:
        raise ModelLoadError(f"{path}: unknown {manifest['kind']} family {manifest['family']!r}")
    for role, name in manifest["files"].items():
        if not (folder / name).is_file():
            raise ModelLoadError(f"{path}: {role} file {name!r} is missing")
    return manifest


def model_version(folder: Path, manifest: dict[str, Any]) -> str:
    """The manifest's "version", else "sha256:" and 12 hex digits of its manifest.json: the
    manifest names the files and records the export's checks, so a new export changes it."""
    version = manifest.get("version")
    if isinstance(version, str) and version:
        return version
    digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    return f"sha256:{digest[:12]}"


# The graphs served on CPU when the operator names none, where a model was exported with them:
# on real speech (all 563 asterisk-en prompts, docs/benchmarks.md, issue 11) tiny.en int8 is 0.2
# point of WER behind float32 (6.52 % vs 6.30 %, both ahead of faster-whisper's 6.82 %) at 0.66x
# the CPU time. On CUDA, float32 (int8 MatMul is a CPU kernel).
CPU_DEFAULT_VARIANT = "int8"


def default_variant(variant: str, runtime: RuntimeOptions) -> str:
    """The operator's `--model-variant`, or where it is "" the device's default."""
    if variant:
        return variant
    return "" if uses_cuda(runtime.device) else CPU_DEFAULT_VARIANT


def with_variant(manifest: dict[str, Any], variant: str) -> dict[str, Any]:
    """Ask the engine for `variant` (e.g. int8) where the model was exported with it."""
    if variant and variant in (manifest.get("variants") or {}):
        return {**manifest, "variant": variant}
    return manifest


def load_recognizer(folder: Path, manifest: dict[str, Any],
                    runtime: RuntimeOptions) -> Recognizer:
    """The recognizer a checked manifest (read_manifest) of kind "recognizer" describes."""
    return RECOGNIZERS[manifest["family"]](folder, manifest, runtime)


def load_voice(folder: Path, manifest: dict[str, Any], runtime: RuntimeOptions) -> Voice:
    """The voice a checked manifest (read_manifest) of kind "voice" describes."""
    return VOICES[manifest["family"]](folder, manifest, runtime)


def load_engine(folder: Path, manifest: dict[str, Any],
                runtime: RuntimeOptions) -> Recognizer | Voice:
    """The engine of a checked manifest of either kind."""
    if manifest["kind"] == "recognizer":
        return load_recognizer(folder, manifest, runtime)
    return load_voice(folder, manifest, runtime)


def load_repository(
    models_dir: Path,
    runtime: RuntimeOptions,
    default_recognizer: str = "",
    default_voice: str = "",
    variant: str = "",
    load_silero: bool = False,
) -> ModelRepository:
    """Load every model folder under `models_dir`, and Silero VAD when `load_silero` (the
    server's default detector: a missing model then fails start-up). Blocking: call it off the
    event loop."""
    if not models_dir.is_dir():
        raise ModelLoadError(f"model repository {models_dir} is not a folder")
    variant = default_variant(variant, runtime)
    recognizers: dict[str, Recognizer] = {}
    voices: dict[str, Voice] = {}
    load_time_s: dict[str, float] = {}
    families: dict[str, str] = {}
    versions: dict[str, str] = {}
    # Dot-folders are exports in progress (written there, renamed into place when complete).
    folders = (
        p for p in models_dir.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()
    )
    for folder in sorted(folders):
        manifest = with_variant(read_manifest(folder), variant)
        started = time.perf_counter()
        name = manifest["name"]
        if manifest["kind"] == "recognizer":
            recognizers[name] = load_recognizer(folder, manifest, runtime)
        else:
            voices[name] = load_voice(folder, manifest, runtime)
        load_time_s[manifest["name"]] = time.perf_counter() - started
        log.info("loaded %s %s (%s) from %s in %.2f s", manifest["kind"], manifest["name"],
                 manifest.get("variant") or "float32", folder, load_time_s[manifest["name"]])
        families[manifest["name"]] = manifest["family"]
        versions[manifest["name"]] = model_version(folder, manifest)
    if not recognizers and not voices:
        raise ModelLoadError(
            f"no models in {models_dir} (each needs a {MANIFEST}); run `make models`"
        )
    silero = SileroSlot()
    if load_silero:
        silero.get()
    return ModelRepository(
        silero=silero,
        recognizers=recognizers,
        voices=voices,
        default_recognizer=_default(recognizers, default_recognizer, "recognizer",
                                    _single_language(recognizers)),
        default_voice=_default(voices, default_voice, "voice"),
        families=families,
        load_time_s=load_time_s,
        versions=versions,
    )


def _single_language(recognizers: Mapping[str, Recognizer]) -> list[str]:
    """Names of the recognizers that know one language. One of them is the default when there
    is one (tiny.en: the fastest for the common case, as Deepgram and Google default to a
    language rather than detect it); requests naming other languages are routed by
    ModelRepository.recognizer()."""
    return [name for name, engine in recognizers.items() if not engine.info.multilingual]


def _default(models: Mapping[str, object], wanted: str, what: str,
             preferred: list[str] | None = None) -> str:
    """`wanted`, else the first `preferred` model by name (recognizers: a single-language one),
    else the first by name."""
    if wanted and wanted not in models:
        raise ModelLoadError(f"default {what} {wanted!r} is not in the repository")
    return wanted or min(preferred or models or [""])
