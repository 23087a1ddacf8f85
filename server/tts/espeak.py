"""The process-wide libespeak-ng (from the espeakng-loader wheel): ctypes calls under one lock.

espeak-ng keeps its state in globals (current voice, the clause reader's pushed-back character),
so every phonemizing call goes through `Espeak.segments()`, which holds `_LOCK` for a whole text;
the character classes (espeak's static Unicode tables, libc's isw*) are pure and need no lock.
The library is loaded once per process; Piper calls it the same way (piper1-gpl espeakbridge.c).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader

from voxserve.server.errors import InvalidArgument, ModelLoadError

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_CHARS_AUTO = 0  # what Piper passes: UTF-8, with an 8-bit fallback for bad bytes
_PHONEMES_IPA = 0x02
_EE_OK = 0

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Segment:
    """What one espeak_TextToPhonemes call consumed and returned.

    espeak reads one character past the end of each clause and pushes it back, so the input it
    consumed for clause k ends with the first character of clause k+1; `end` is None once the
    terminating NUL has been read.
    """

    start: int  # character offset where this call started reading
    end: int | None  # character offset where the next call starts; None: end of text
    phonemes: str  # IPA, words separated by spaces, language flags like "(fr)" included


class Espeak:
    """libespeak-ng: voices, clause-by-clause IPA phonemes, and its character classes."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._libc = ctypes.CDLL(None)
        self._declare()
        data = espeakng_loader.get_data_path().encode()
        flags = _INITIALIZE_DONT_EXIT
        if self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, flags) < 0:
            raise ModelLoadError("espeak-ng failed to initialise from the espeakng-loader wheel")
        self._voice = ""

    def _declare(self) -> None:
        lib, libc = self._lib, self._libc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int
        ]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.ucd_lookup_category.argtypes = [ctypes.c_uint32]
        lib.ucd_lookup_category.restype = ctypes.c_int
        lib.ucd_properties.argtypes = [ctypes.c_uint32, ctypes.c_int]
        lib.ucd_properties.restype = ctypes.c_uint64
        for name in ("iswspace", "iswalnum", "iswlower", "iswdigit"):
            getattr(libc, name).argtypes = [ctypes.c_uint32]
            getattr(libc, name).restype = ctypes.c_int

    def check_voice(self, voice: str) -> None:
        """Raise ModelLoadError when espeak-ng has no voice of this name."""
        with _LOCK:
            self._select(voice)

    def segments(self, voice: str, text: str) -> list[Segment]:
        """Run espeak_TextToPhonemes over `text` clause by clause, as Piper does."""
        data = text.encode("utf-8")
        # byte offset -> character offset, for the positions espeak hands back
        char_at = _char_offsets(text)
        buffer = ctypes.create_string_buffer(data)
        base = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(base)
        out: list[Segment] = []
        with _LOCK:
            self._select(voice)
            while pointer.value is not None:
                before = pointer.value
                raw = self._lib.espeak_TextToPhonemes(
                    ctypes.byref(pointer), _CHARS_AUTO, _PHONEMES_IPA
                )
                if raw is None or pointer.value == before:
                    # espeak gives NULL (and does not move) when it cannot decode the text
                    self._flush()
                    raise InvalidArgument("espeak-ng could not read the text")
                end = None if pointer.value is None else char_at[pointer.value - base]
                phonemes = raw.decode("utf-8", errors="replace")
                out.append(Segment(start=char_at[before - base], end=end, phonemes=phonemes))
            self._flush()
        return out

    def _flush(self) -> None:
        """Read an empty text so that nothing of this text reaches the next one.

        A text ending in ".." leaves its last "." pushed back in espeak's reader (readclause.c
        reads past the end, then UngetC), and the next text would start with "dot"; piper-tts
        has that leak between requests, we do not.
        """
        empty = ctypes.create_string_buffer(b"")
        pointer = ctypes.c_void_p(ctypes.addressof(empty))
        while pointer.value is not None:
            self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_AUTO, _PHONEMES_IPA)

    def _select(self, voice: str) -> None:
        if voice == self._voice:
            return
        if self._lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise ModelLoadError(f"espeak-ng has no voice named {voice!r}")
        self._voice = voice

    def properties(self, char: str) -> int:
        """espeak's Unicode property bits for one character (ucd_properties)."""
        code = ord(char)
        return int(self._lib.ucd_properties(code, self._lib.ucd_lookup_category(code)))

    def is_space(self, char: str) -> bool:
        return bool(self._libc.iswspace(ord(char)))

    def is_alnum(self, char: str) -> bool:
        return bool(self._libc.iswalnum(ord(char)))

    def is_lower(self, char: str) -> bool:
        return bool(self._libc.iswlower(ord(char)))

    def is_digit(self, char: str) -> bool:
        return bool(self._libc.iswdigit(ord(char)))


def _char_offsets(text: str) -> list[int]:
    """For each UTF-8 byte offset of `text` (and one past the end), the character offset."""
    offsets: list[int] = []
    for index, char in enumerate(text):
        offsets.extend([index] * len(char.encode("utf-8")))
    offsets.append(len(text))
    return offsets


_INSTANCE: Espeak | None = None


def espeak() -> Espeak:
    """The one Espeak of this process (espeak-ng keeps global state: initialise it once)."""
    global _INSTANCE
    with _LOCK:
        if _INSTANCE is None:
            _INSTANCE = Espeak()
        return _INSTANCE
