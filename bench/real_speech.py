"""Real human speech for the streaming bench: conversations of asterisk-en prompts joined with
natural pauses, and the recordings of ../shared/speech.

Prompts: one professional US English speaker, 8 kHz telephony WAVs from Debian's
asterisk-core-sounds-en-wav, texts from asterisk-core-sounds-en; resampled to 16 kHz, their
leading and trailing silence cut, joined with pauses drawn from 0.5-1.5 s (seeded per stream,
so every run streams the same audio). The shared recordings (jfk.flac, each channel of
stereo_diarization.wav) are put in as utterances of their own, with their own inner pauses.
"""

from __future__ import annotations

import functools
import gzip
import random
import re
from pathlib import Path

import numpy as np

from bench.recordings import Conversation, Utterance
from bench.support import RATE_HZ, REPO
from voxserve.server.audio.decode import decode_recording
from voxserve.server.audio.resample import resample

ALLISON = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
PROMPT_TEXTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
SHARED_SPEECH = REPO.parent / "shared" / "speech"
# (file, channel or None for a mix, reference text) from ../shared/speech/README.md.
SHARED = (
    ("jfk.flac", None, "And so, my fellow Americans, ask not what your country can do for you,"
     " ask what you can do for your country."),
    ("stereo_diarization.wav", 0, "He began a confused complaint against the wizard, who had"
     " vanished behind the curtain on the left."),
    ("stereo_diarization.wav", 1, "The horizon seems extremely distant."),
)
PROMPT_ORDER_SEED = 14
PAUSE_RANGE_S = (0.5, 1.5)  # natural pauses between turns (the range)
# Prompts of sentence length: shorter ones are single words ("Added."), longer ones IVR menus.
PROMPT_SECONDS = (1.5, 7.0)
# Frames (10 ms) quieter than this RMS are the recording's leading or trailing silence.
_SILENCE_RMS = 0.01
_LINE = re.compile(r"^([\w-]+): (.+)$")


@functools.cache
def prompts() -> tuple[tuple[np.ndarray, str], ...]:
    """Sentence-length prompts (16 kHz float32 with the silence around them cut, text), by
    name order."""
    found = []
    for line in gzip.open(PROMPT_TEXTS, "rt", encoding="utf-8", errors="replace"):
        match = _LINE.match(line.strip())
        if match is None or match.group(2).startswith("["):
            continue  # comments and tones
        path = ALLISON / f"{match.group(1)}.wav"
        if not path.is_file():
            continue
        audio = trimmed(decode_recording(path.read_bytes(), "unspecified", 0, 0).samples)
        if PROMPT_SECONDS[0] <= len(audio) / RATE_HZ <= PROMPT_SECONDS[1]:
            found.append((audio, match.group(2)))
    if not found:
        raise FileNotFoundError(f"no asterisk-en prompts in {ALLISON} (apt-get install "
                                "asterisk-core-sounds-en-wav asterisk-core-sounds-en)")
    return tuple(found)


@functools.cache
def shared_recordings() -> tuple[tuple[np.ndarray, str], ...]:
    """The ../shared/speech recordings as 16 kHz mono utterances with their texts."""
    found = []
    for name, channel, text in SHARED:
        data = (SHARED_SPEECH / name).read_bytes()
        if channel is None:
            samples = decode_recording(data, "unspecified", 0, 0).samples
        else:
            samples = _channel(data, channel)
        found.append((trimmed(samples), text))
    return tuple(found)


def conversation(index: int, prompts_per_stream: int, lead_s: float = 0.5) -> Conversation:
    """Stream `index`'s conversation: `prompts_per_stream` prompts (a different run of them per
    stream) and one shared recording, in a seeded order, with seeded pauses after each."""
    rng = random.Random(index)
    pool = prompts()
    order = list(range(len(pool)))
    random.Random(PROMPT_ORDER_SEED).shuffle(order)  # neighbours by name share their wording
    start = index * prompts_per_stream
    clips = [pool[order[(start + k) % len(pool)]] for k in range(prompts_per_stream)]
    shared = shared_recordings()
    clips.insert(rng.randrange(len(clips) + 1), shared[index % len(shared)])
    parts = [np.zeros(int(lead_s * RATE_HZ), dtype=np.float32)]
    at = len(parts[0])
    utterances = []
    for audio, text in clips:
        utterances.append(Utterance(text, at / RATE_HZ, (at + len(audio)) / RATE_HZ))
        pause = int(rng.uniform(*PAUSE_RANGE_S) * RATE_HZ)
        parts += [audio, np.zeros(pause, dtype=np.float32)]
        at += len(audio) + pause
    return Conversation(np.concatenate(parts).astype(np.float32), tuple(utterances))


def trimmed(samples: np.ndarray) -> np.ndarray:
    """`samples` without the silence before the first and after the last loud 10 ms frame."""
    frame = RATE_HZ // 100
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > _SILENCE_RMS)
    if len(loud) == 0:
        return samples[:0]
    return samples[loud[0] * frame : (loud[-1] + 1) * frame].astype(np.float32)


def _channel(wav: bytes, channel: int) -> np.ndarray:
    """One channel of a 16-bit PCM WAV, at 16 kHz."""
    import io
    import wave

    with wave.open(io.BytesIO(wav)) as reader:
        rate, channels = reader.getframerate(), reader.getnchannels()
        frames = reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames, "<i2").reshape(-1, channels)[:, channel]
    return resample(samples.astype(np.float32) / 32768.0, rate, RATE_HZ)
