"""Real human speech with known text: Debian's asterisk prompts and the recordings in
../shared/speech (see its README). Nothing is copied into the repository."""

from __future__ import annotations

import functools
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxserve.server.audio.decode import decode_recording

REPO = Path(__file__).resolve().parent.parent  # ../shared/speech sits beside the clone
SPEECH = REPO.parent / "shared" / "speech"
# asterisk-core-sounds-en-wav: 568 prompts read by one US English speaker, 8 kHz telephony WAV;
# asterisk-core-sounds-en: their texts, one "name: text" line each
ASTERISK_EN = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_EN_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
JFK_TEXT = ("And so, my fellow Americans, ask not what your country can do for you, ask what you "
            "can do for your country.")
STEREO_TEXTS = (
    "He began a confused complaint against the wizard, who had vanished behind the curtain on "
    "the left.",
    "The horizon seems extremely distant.",
)
# the prompts say the keys' names: "press star", "followed by pound"
_KEY_NAMES = {"*": " star ", "#": " pound "}
_BRACKETS = re.compile(r"\[[^\]]*\]")

# A fixed CI subset of asterisk-en: 48 prompts of 1-12 s, single words, numbers, letters and
# long menus (the whole set runs in bench/asr.py).
CI_PROMPTS = (
    "activated", "agent-alreadyon", "agent-loginok", "all-circuits-busy-now", "auth-incorrect",
    "call-fwd-on-busy", "cannot-complete-as-dialed", "check-number-dial-again",
    "conf-adminmenu-162", "conf-getpin", "conf-hasleft", "conf-locked", "conf-onlyperson",
    "conf-placeintoconf", "demo-abouttotry", "demo-congrats", "demo-echotest", "demo-moreinfo",
    "digits/1", "digits/15", "digits/40", "digits/hundred", "dir-instr", "followme/options",
    "hello-world", "invalid", "letters/a", "letters/dollar", "pbx-invalid", "pbx-transfer",
    "privacy-unident", "queue-callswaiting", "queue-holdtime", "queue-thankyou", "spy-agent",
    "ss-noservice", "transfer", "tt-allbusy", "tt-weasels", "vm-theperson", "vm-and",
    "vm-changeto", "vm-extension", "vm-goodbye", "vm-instructions", "vm-intro", "vm-login",
    "vm-options",
)


@dataclass(frozen=True)
class Clip:
    """Float32 mono 16 kHz audio of a person speaking, and what they say."""

    name: str
    audio: np.ndarray
    text: str

    @property
    def duration_s(self) -> float:
        return len(self.audio) / 16000


def load(path: Path) -> np.ndarray:
    """Any recording the server reads, decoded by the server's own decoder: float32 mono 16 kHz."""
    return np.array(decode_recording(path.read_bytes(), "unspecified", 0, 0).samples)


@functools.cache
def asterisk_texts() -> dict[str, str]:
    """Prompt name -> spoken text, for every prompt that is speech (not a tone)."""
    texts = {}
    for line in gzip.decompress(ASTERISK_EN_TEXTS.read_bytes()).decode("utf-8").splitlines():
        name, sep, text = line.partition(":")
        if not sep or line.startswith(";"):
            continue
        spoken = _BRACKETS.sub(" ", text)
        for key, word in _KEY_NAMES.items():
            spoken = spoken.replace(key, word)
        spoken = " ".join(spoken.split())
        if spoken and (ASTERISK_EN / f"{name.strip()}.wav").is_file():
            texts[name.strip()] = spoken
    return texts


@functools.cache
def asterisk(name: str) -> Clip:
    """One asterisk-en prompt."""
    return Clip(name, load(ASTERISK_EN / f"{name}.wav"), asterisk_texts()[name])


def asterisk_all() -> list[Clip]:
    """Every speech prompt of asterisk-en, in name order."""
    return [asterisk(name) for name in sorted(asterisk_texts())]


@functools.cache
def jfk() -> Clip:
    return Clip("jfk", load(SPEECH / "jfk.flac"), JFK_TEXT)


@functools.cache
def stereo_channels() -> tuple[Clip, Clip]:
    """The two speakers of stereo_diarization.wav, each channel on its own."""
    import soundfile as sf

    frames, rate_hz = sf.read(SPEECH / "stereo_diarization.wav", dtype="float32", always_2d=True)
    assert rate_hz == 16000
    return tuple(  # type: ignore[return-value]
        Clip(f"stereo_diarization {side}", np.ascontiguousarray(frames[:, i]), text)
        for i, (side, text) in enumerate(zip(("left", "right"), STEREO_TEXTS, strict=True))
    )


def shared_clips() -> list[Clip]:
    """The English recordings of ../shared/speech with exact texts."""
    return [jfk(), *stereo_channels()]


def pause(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * 16000)), dtype=np.float32)


def available() -> bool:
    """Whether the real speech is installed (asterisk prompts and ../shared/speech)."""
    return ASTERISK_EN_TEXTS.is_file() and ASTERISK_EN.is_dir() and (SPEECH / "jfk.flac").is_file()
