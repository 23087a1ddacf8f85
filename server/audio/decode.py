"""Decoding client audio (recordings in any common container, raw LINEAR16/MULAW) to 16 kHz mono."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from voxserve.server.audio.codecs import (
    BytesLike,
    alaw_to_float,
    mix_to_mono,
    mulaw_to_float,
    pcm16_to_float,
)
from voxserve.server.audio.compressed import decode_compressed
from voxserve.server.audio.resample import TARGET_RATE_HZ, StreamResampler, resample
from voxserve.server.errors import InvalidArgument, InvalidAudio, LimitExceeded

ENCODINGS = ("unspecified", "linear16", "mulaw", "alaw", "wav", "flac")
RAW_ENCODINGS = ("linear16", "mulaw", "alaw")
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 48000
MAX_CHANNELS = 8
# A canonical PCM WAV header (RIFF + fmt + data chunk headers) is 44 bytes.
_WAV_HEADER_BYTES = 44
_FLAC_STREAMINFO_END = 42  # "fLaC" + 4-byte block header + 34-byte STREAMINFO
_READ_BLOCK_FRAMES = 1 << 16
_BYTES_PER_SAMPLE = {"linear16": 2, "mulaw": 1, "alaw": 1}
_RAW_DECODERS: dict[str, Callable[[BytesLike], np.ndarray]] = {
    "linear16": pcm16_to_float,
    "mulaw": mulaw_to_float,
    "alaw": alaw_to_float,
}
# Containers told apart by their first bytes; only signatures of 4+ bytes, so that raw PCM
# never matches by chance.
_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("wav", lambda d: d[:4] in (b"RIFF", b"RF64") and d[8:12] == b"WAVE"),
    ("flac", lambda d: d[:4] == b"fLaC"),
    ("ogg", lambda d: d[:4] == b"OggS"),
    ("aiff", lambda d: d[:4] == b"FORM" and d[8:12] in (b"AIFF", b"AIFC")),
    ("webm", lambda d: d[:4] == b"\x1a\x45\xdf\xa3"),
    ("mp4", lambda d: d[4:8] == b"ftyp"),
    ("mp3", lambda d: d[:3] == b"ID3"),
)
# Streams without a container start with a frame header: only believed for UNSPECIFIED audio,
# where raw samples are not an option (16-bit PCM can start with these bytes by chance).
_FRAME_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    # MPEG audio frame sync (11 bits), layer III, a bitrate and a sample rate index that exist
    ("mp3", lambda d: len(d) >= 4 and d[0] == 0xFF and d[1] & 0xE6 == 0xE2
     and d[2] >> 4 not in (0, 15) and (d[2] >> 2) & 3 != 3),
    # AAC ADTS header: 12-bit sync, layer 00
    ("aac", lambda d: len(d) >= 7 and d[0] == 0xFF and d[1] & 0xF6 == 0xF0),
)
# What else a client might send by mistake, named in the refusal.
_NOT_AUDIO: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("a PNG image", lambda d: d[:8] == b"\x89PNG\r\n\x1a\n"),
    ("a JPEG image", lambda d: d[:3] == b"\xff\xd8\xff"),
    ("a PDF document", lambda d: d[:5] == b"%PDF-"),
    ("a ZIP archive", lambda d: d[:4] == b"PK\x03\x04"),
    ("a gzip archive", lambda d: d[:2] == b"\x1f\x8b"),
)
_NAMES = {
    "linear16": "LINEAR16", "mulaw": "MULAW", "alaw": "ALAW", "wav": "WAV", "flac": "FLAC",
    "ogg": "Ogg", "aiff": "AIFF", "webm": "WebM/Matroska", "mp4": "MP4/M4A", "mp3": "MP3",
    "aac": "AAC (ADTS)",
}
# Read by libsndfile (exact header checks and messages); the rest by FFmpeg through PyAV.
_SOUNDFILE_CONTAINERS = ("wav", "flac")


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: float32 mono samples at 16 kHz (read-only) and where they came from."""

    samples: np.ndarray
    sample_rate_hz: int
    duration_s: float
    source_rate_hz: int
    source_channels: int

    def __post_init__(self) -> None:
        if self.samples.dtype != np.float32 or self.samples.ndim != 1:
            raise ValueError(f"samples must be 1-D float32, not {self.samples.dtype} "
                             f"{self.samples.ndim}-D")
        if self.sample_rate_hz <= 0 or self.source_rate_hz <= 0 or self.source_channels <= 0:
            raise ValueError("rates and channel counts must be positive")
        if self.duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        self.samples.flags.writeable = False


def sniff(data: bytes) -> str | None:
    """The container the bytes start with ("wav", "flac", "ogg", ...), or None."""
    for name, matches in _SIGNATURES:
        if matches(data):
            return name
    return None


def sniff_recording(data: bytes) -> str | None:
    """Like `sniff`, also finding container-less MP3 and AAC streams by their first frame."""
    found = sniff(data)
    if found is None:
        found = next((name for name, matches in _FRAME_SIGNATURES if matches(data)), None)
    return found


def check_raw_format(encoding: str, sample_rate_hz: int, channels: int) -> None:
    """Raise InvalidAudio naming the field unless this is a raw layout the server reads."""
    if encoding not in RAW_ENCODINGS:
        raise InvalidAudio(
            f"encoding must be LINEAR16, MULAW or ALAW for raw audio, not {encoding}"
        )
    if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise InvalidAudio(
            f"sample_rate_hz must be {MIN_RATE_HZ} to {MAX_RATE_HZ} for {_NAMES[encoding]} audio,"
            f" not {sample_rate_hz}"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidAudio(
            f"audio_channel_count must be 1 to {MAX_CHANNELS} (unset means 1), not {channels}"
        )


def decode_recording(
    data: bytes,
    encoding: str,
    sample_rate_hz: int,
    channels: int,
    *,
    max_duration_s: float | None = None,
) -> Audio:
    """A whole recording -> Audio at 16 kHz mono.

    `encoding` is one of ENCODINGS. Raw audio needs `sample_rate_hz` and `channels` (0 means 1).
    UNSPECIFIED is sniffed from the bytes: WAV and FLAC (libsndfile), MP3, AAC (M4A or ADTS),
    Ogg Vorbis or Opus, WebM and AIFF (FFmpeg via PyAV). For these, `sample_rate_hz` 0 takes the
    header's rate and any other rate must match it, and `channels` is ignored. Raises
    InvalidAudio naming the problem, LimitExceeded past `max_duration_s`.
    """
    if encoding not in ENCODINGS:
        raise InvalidArgument(
            f"unsupported audio encoding ({encoding}); use LINEAR16, MULAW, ALAW or"
            " UNSPECIFIED (a WAV or FLAC file)"
        )
    if not data:
        raise InvalidAudio("audio is empty")
    if encoding in RAW_ENCODINGS:
        return _decode_raw(data, encoding, sample_rate_hz, channels or 1, max_duration_s)
    if encoding == "unspecified":
        found = sniff_recording(data)
        if found is None:
            raise InvalidAudio(
                "audio with UNSPECIFIED encoding must be a recording in a known format (WAV, FLAC,"
                f" MP3, AAC/M4A, Ogg Vorbis or Opus, WebM, AIFF), not {_unknown(data)};"
                " declare LINEAR16, MULAW or ALAW for raw samples"
            )
        container = found
    else:
        found = sniff(data)
        container = encoding
        if found != container:
            raise InvalidAudio(f"encoding is {_NAMES[container]} but the audio is {_what(found)}")
    return _decode_container(data, container, sample_rate_hz, max_duration_s)


def _what(found: str | None) -> str:
    return f"{_NAMES[found]} data" if found else "raw or unrecognised data"


def _unknown(data: bytes) -> str:
    """What unrecognised bytes look like: a known non-audio file, text, or their first bytes."""
    for name, matches in _NOT_AUDIO:
        if matches(data):
            return name
    head = data[:16]
    if head.isascii() and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return f"raw or unrecognised data (starting {data[:8].hex(' ')})"


def _decode_raw(
    data: bytes, encoding: str, sample_rate_hz: int, channels: int, max_duration_s: float | None
) -> Audio:
    check_raw_format(encoding, sample_rate_hz, channels)
    found = sniff(data)
    if found is not None:
        raise InvalidAudio(
            f"encoding is {_NAMES[encoding]} (raw samples) but the audio is {_what(found)};"
            " declare its container or UNSPECIFIED"
        )
    width = _BYTES_PER_SAMPLE[encoding]
    if len(data) % width:
        raise InvalidAudio(f"{_NAMES[encoding]} audio must have an even byte count, "
                           f"not {len(data)} bytes")
    if len(data) % (width * channels):
        raise InvalidAudio(
            f"{_NAMES[encoding]} audio of {len(data)} bytes is not a whole number of"
            f" {channels}-channel frames ({width * channels} bytes each)"
        )
    n_frames = len(data) // (width * channels)
    _check_duration(n_frames / sample_rate_hz, max_duration_s)
    mono = mix_to_mono(_RAW_DECODERS[encoding](data), channels)
    return _audio(mono, sample_rate_hz, channels)


def _decode_container(
    data: bytes, container: str, sample_rate_hz: int, max_duration_s: float | None
) -> Audio:
    name = _NAMES[container]
    if container not in _SOUNDFILE_CONTAINERS:
        frames, rate_hz = decode_compressed(data, name, max_duration_s)
        _check_header(name, rate_hz, frames.shape[1], sample_rate_hz)
        return _checked_audio(frames, name, rate_hz)
    if container == "wav" and len(data) < _WAV_HEADER_BYTES:
        raise InvalidAudio(f"WAV header is truncated or corrupt: the file is {len(data)} bytes,"
                           f" shorter than a {_WAV_HEADER_BYTES}-byte header")
    if container == "flac" and _flac_total_samples(data) == 0:
        # libsndfile cannot read to the end of a FLAC whose STREAMINFO leaves the length unset.
        raise InvalidAudio("FLAC header does not give the stream length (a FLAC written to a"
                           " pipe); re-encode it to a file or send WAV")
    try:
        sound = sf.SoundFile(io.BytesIO(data))
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise InvalidAudio(f"{name} header is truncated or corrupt: {_reason(exc)}") from exc
    rate_hz, channels = sound.samplerate, sound.channels
    with sound:
        _check_header(name, rate_hz, channels, sample_rate_hz)
        frames = _read_frames(sound, name, max_duration_s)
    return _checked_audio(frames, name, rate_hz)


def _checked_audio(frames: np.ndarray, name: str, rate_hz: int) -> Audio:
    """Audio of decoded frames [n, channels], refused when empty or not finite."""
    if frames.shape[0] == 0:
        raise InvalidAudio(f"{name} file holds no audio samples")
    if not np.isfinite(frames).all():
        raise InvalidAudio(f"{name} file holds NaN or infinite samples")
    return _audio(frames.mean(axis=1, dtype=np.float32), rate_hz, frames.shape[1])


def _flac_total_samples(data: bytes) -> int | None:
    """STREAMINFO's total sample count (0: unknown), None if the header is too short to say.

    STREAMINFO is the first metadata block: its body starts at byte 8, the count is the low 36
    bits of body bytes 13..17 (FLAC format specification, METADATA_BLOCK_STREAMINFO).
    """
    if len(data) < _FLAC_STREAMINFO_END:
        return None
    return int.from_bytes(data[21:26], "big") & ((1 << 36) - 1)


def _check_header(name: str, header_rate_hz: int, channels: int, declared_rate_hz: int) -> None:
    if declared_rate_hz and declared_rate_hz != header_rate_hz:
        raise InvalidAudio(f"sample_rate_hz is {declared_rate_hz} but the {name} header says"
                           f" {header_rate_hz} Hz; send 0 to take the header's rate")
    if not MIN_RATE_HZ <= header_rate_hz <= MAX_RATE_HZ:
        raise InvalidAudio(f"{name} sample rate is {header_rate_hz} Hz; the server reads"
                           f" {MIN_RATE_HZ} to {MAX_RATE_HZ} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidAudio(f"{name} file has {channels} channels; at most {MAX_CHANNELS}"
                           " are supported")


def _read_frames(sound: sf.SoundFile, name: str, max_duration_s: float | None) -> np.ndarray:
    """All frames as float32 [n, channels], read in blocks so that a header declaring more
    frames than the limit allows is stopped before the memory is taken."""
    blocks: list[np.ndarray] = []
    total = 0
    while True:
        try:
            block = sound.read(_READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
        except (sf.SoundFileError, RuntimeError, ValueError) as exc:
            reason = _reason(exc)
            raise InvalidAudio(f"{name} audio data is truncated or corrupt: {reason}") from exc
        blocks.append(block)
        total += block.shape[0]
        _check_duration(total / sound.samplerate, max_duration_s)
        if block.shape[0] < _READ_BLOCK_FRAMES:
            break
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def _reason(exc: Exception) -> str:
    """libsndfile's own explanation, never soundfile's text (which names the file object)."""
    reason = str(getattr(exc, "error_string", "") or "unreadable")
    return reason.removeprefix("Error : ")


def _check_duration(duration_s: float, max_duration_s: float | None) -> None:
    if max_duration_s is not None and duration_s > max_duration_s:
        raise LimitExceeded(f"audio is longer than the limit of {max_duration_s:g} s")


def _audio(mono: np.ndarray, rate_hz: int, channels: int) -> Audio:
    samples = np.ascontiguousarray(resample(mono, rate_hz), dtype=np.float32)
    return Audio(samples, TARGET_RATE_HZ, mono.shape[0] / rate_hz, rate_hz, channels)


class StreamDecoder:
    """Raw live audio -> float32 mono 16 kHz, chunk by chunk.

    Chunks may split a sample or a multi-channel frame anywhere: the incomplete tail is carried
    into the next chunk, and the resampler keeps its filter state, so any split of the same
    bytes gives the same samples.
    """

    def __init__(self, encoding: str, sample_rate_hz: int, channels: int) -> None:
        check_raw_format(encoding, sample_rate_hz, channels)
        self.encoding = encoding
        self.channels = channels
        self._decode = _RAW_DECODERS[encoding]
        self._frame_bytes = _BYTES_PER_SAMPLE[encoding] * channels
        self._carry = b""
        self._resampler = StreamResampler(sample_rate_hz, TARGET_RATE_HZ)

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame waiting for the next chunk."""
        return len(self._carry)

    def push(self, chunk: bytes) -> np.ndarray:
        """Decode the next chunk; returns the 16 kHz samples ready so far (may be empty)."""
        data = self._carry + chunk if self._carry else chunk
        whole = len(data) - len(data) % self._frame_bytes
        self._carry = bytes(data[whole:])
        if whole == 0:
            return np.zeros(0, dtype=np.float32)
        mono = mix_to_mono(self._decode(memoryview(data)[:whole]), self.channels)
        return self._resampler.push(mono)

    def flush(self) -> np.ndarray:
        """The resampler's last samples; an incomplete trailing frame is dropped."""
        self._carry = b""
        return self._resampler.flush()
