"""WhisperRecognizer: the speech-to-text engine over an exported Whisper model folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxserve.server.asr.config import WhisperConfig
from voxserve.server.asr.features import SAMPLE_RATE_HZ
from voxserve.server.asr.language_id import candidate_codes
from voxserve.server.asr.network import WhisperNetwork
from voxserve.server.asr.tokenizer import WhisperTokenizer
from voxserve.server.asr.transcription import SILENCE_RMS, Transcription, rms
from voxserve.server.asr.types import (
    LanguageIdentification,
    RecognizerInfo,
    TranscribeOptions,
    Transcript,
)
from voxserve.server.errors import InvalidArgument, InvalidAudio, ModelLoadError
from voxserve.server.language import primary_subtag
from voxserve.server.runtime import RuntimeOptions
from voxserve.server.stop import StopSignal

# The variant name of the exporter's default float32 graphs (the manifest's "files").
FLOAT32 = "float32"


class WhisperRecognizer:
    """Transcribes 16 kHz mono float32 audio; immutable after load, safe across threads."""

    def __init__(self, config: WhisperConfig, network: WhisperNetwork,
                 tokenizer: WhisperTokenizer, variant: str = FLOAT32) -> None:
        self._config = config
        self._network = network
        self._tokenizer = tokenizer
        self.info = RecognizerInfo(
            name=config.name,
            language_codes=config.language_codes,
            multilingual=config.multilingual,
            sample_rate_hz=config.sample_rate_hz,
            description=config.description,
            execution_provider=network.execution_provider,
            variant=variant,
        )

    @classmethod
    def load(cls, folder: Path, manifest: dict[str, Any],
             runtime: RuntimeOptions) -> WhisperRecognizer:
        """Open the model folder described by `manifest` (ModelLoadError when it is unusable)."""
        config = WhisperConfig.from_manifest(manifest)
        if config.sample_rate_hz != SAMPLE_RATE_HZ:
            raise ModelLoadError(f"model {config.name}: whisper needs {SAMPLE_RATE_HZ} Hz audio")
        files = graph_files(manifest)
        if not (folder / files.tokenizer).is_file():
            raise ModelLoadError(f"model {config.name}: {files.tokenizer} is missing")
        tokenizer = WhisperTokenizer.from_file(folder / files.tokenizer, config.special.eot)
        network = WhisperNetwork.open(
            folder / files.encoder,
            folder / files.decoder,
            runtime,
            config.dims.n_text_layer,
            config.dims.n_text_state,
        )
        return cls(config, network, tokenizer, files.variant)

    def transcribe(self, audio: np.ndarray, options: TranscribeOptions,
                   stop: StopSignal | None = None) -> Transcript:
        """Recognise all speech in `audio`: float32 mono 16 kHz in [-1, 1], any length.
        Cancelled between windows and tokens once `stop` is set."""
        _check_audio(audio)
        language = self._requested_language(options)
        candidates = self._candidates(options)
        duration_s = len(audio) / SAMPLE_RATE_HZ
        if len(audio) == 0 or rms(audio) < SILENCE_RMS:
            return Transcript((), language or "", duration_s, 1.0 if language else 0.0)
        run = Transcription(self._config, self._network, self._tokenizer, options, language,
                            candidates, stop)
        segments = run.transcribe(audio)
        return Transcript(tuple(segments), run.language or "", duration_s,
                          run.language_probability)

    def identify_language(self, audio: np.ndarray,
                          language_codes: tuple[str, ...] = ()) -> LanguageIdentification:
        """Rank the spoken language of `audio`'s first 30 s window with sound among
        `language_codes` (all the model knows when empty), as transcribe() detects it."""
        _check_audio(audio)
        if not self._config.multilingual:
            raise InvalidArgument(f"model {self._config.name} is English-only and cannot "
                                  "identify languages; use a multilingual model",
                                  field="config.model")
        candidates = candidate_codes(self._config, language_codes)
        duration_s = len(audio) / SAMPLE_RATE_HZ
        if len(audio) == 0 or rms(audio) < SILENCE_RMS:
            return LanguageIdentification(None, 0.0, 0.0, duration_s)
        run = Transcription(self._config, self._network, self._tokenizer, TranscribeOptions(),
                            None, candidates)
        found = run.identify_language(audio)
        if found is None:
            return LanguageIdentification(None, 0.0, 0.0, duration_s)
        ranking, start_s, end_s = found
        return LanguageIdentification(ranking, start_s, end_s, duration_s)

    def _requested_language(self, options: TranscribeOptions) -> str | None:
        """The language to decode in, or None to detect it (multilingual models only)."""
        code = None if options.language is None else primary_subtag(options.language)
        if not self._config.multilingual:
            if options.translate:
                raise InvalidArgument(f"model {self._config.name} is English-only and cannot "
                                      "translate; use a multilingual model",
                                      field="config.translate_to_english")
            if code is not None and code not in self._config.language_codes:
                raise InvalidArgument(
                    f"model {self._config.name} recognises only "
                    f"{', '.join(self._config.language_codes)}, not {code!r}"
                )
            return self._config.language_codes[0]
        if code is not None and code not in self._config.languages:
            raise InvalidArgument(
                f"model {self._config.name} does not know language {code!r}; "
                f"it knows {', '.join(sorted(self._config.languages))}"
            )
        return code

    def _candidates(self, options: TranscribeOptions) -> tuple[str, ...]:
        """The languages detection may choose from; English-only models check theirs."""
        if self._config.multilingual:
            return candidate_codes(self._config, options.language_codes)
        codes = {primary_subtag(tag, "config.language_codes") for tag in options.language_codes}
        if codes - set(self._config.language_codes):
            raise InvalidArgument(
                f"model {self._config.name} recognises only "
                f"{', '.join(self._config.language_codes)}; language_codes lists "
                f"{', '.join(sorted(codes - set(self._config.language_codes)))}",
                field="config.language_codes",
            )
        return ()


@dataclass(frozen=True)
class GraphFiles:
    """The files one recognizer runs, relative to its model folder."""

    encoder: str
    decoder: str
    tokenizer: str
    variant: str  # FLOAT32, or the name of one of the manifest's "variants"


def graph_files(manifest: dict[str, Any]) -> GraphFiles:
    """The encoder and decoder to run: the manifest's "files", or those of the variant that its
    "variant" key names (e.g. "int8", written by `voxserve export whisper --int8`)."""
    name = manifest.get("name", "?")
    files = manifest.get("files") or {}
    try:
        chosen = GraphFiles(files["encoder"], files["decoder"], files["tokenizer"], FLOAT32)
    except KeyError as exc:
        raise ModelLoadError(f"model {name}: manifest files lack {exc}") from exc
    variant = manifest.get("variant") or FLOAT32
    if variant == FLOAT32:
        return chosen
    variants = manifest.get("variants") or {}
    if variant not in variants:
        have = ", ".join([FLOAT32, *sorted(variants)])
        raise ModelLoadError(f"model {name} has no {variant!r} variant; it has {have}")
    try:
        graphs = variants[variant]
        return GraphFiles(graphs["encoder"], graphs["decoder"], chosen.tokenizer, variant)
    except (KeyError, TypeError) as exc:
        raise ModelLoadError(f"model {name}: variant {variant!r} lacks {exc}") from exc


def _check_audio(audio: np.ndarray) -> None:
    if not isinstance(audio, np.ndarray) or audio.dtype != np.float32:
        raise InvalidAudio("audio must be a float32 numpy array of 16 kHz samples")
    if audio.ndim != 1:
        raise InvalidAudio(f"audio must be mono (1-D), got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise InvalidAudio("audio holds NaN or infinite samples")
