"""decode_recording: recordings and raw audio -> float32 mono 16 kHz, and the errors clients see."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from voxserve.server.audio.codecs import float_to_mulaw, float_to_pcm16
from voxserve.server.audio.decode import decode_recording, sniff
from voxserve.server.errors import InvalidArgument, InvalidAudio, LimitExceeded


def _tone(rate_hz: int, seconds: float, freq_hz: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def _file(samples: np.ndarray, rate_hz: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate_hz, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _peak_hz(samples: np.ndarray, rate_hz: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate_hz)[np.argmax(spectrum)])


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples[len(samples) // 10 : -len(samples) // 10]))))


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_sample_formats_decode_to_16k_mono(subtype: str) -> None:
    data = _file(_tone(22050, 1.0), 22050, "WAV", subtype)
    audio = decode_recording(data, "wav", 0, 0)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate_hz == 16000
    assert audio.source_rate_hz == 22050 and audio.source_channels == 1
    assert audio.duration_s == 1.0
    assert len(audio.samples) == 16000
    assert _peak_hz(audio.samples) == pytest.approx(440, abs=2)
    assert _rms(audio.samples) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_48k_stereo_wav_is_mixed_down_and_resampled() -> None:
    left, right = _tone(48000, 2.0, 440), _tone(48000, 2.0, 1000, amp=0.25)
    data = _file(np.stack([left, right], axis=1), 48000, "WAV", "PCM_16")
    audio = decode_recording(data, "unspecified", 48000, 2)
    assert (audio.source_rate_hz, audio.source_channels, audio.duration_s) == (48000, 2, 2.0)
    assert len(audio.samples) == 32000
    spectrum = np.abs(np.fft.rfft(audio.samples))
    freqs = np.fft.rfftfreq(len(audio.samples), 1 / 16000)
    # The mean of both channels: 440 Hz at half of 0.5, 1 kHz at half of 0.25.
    assert spectrum[freqs == 440][0] / spectrum[freqs == 1000][0] == pytest.approx(2.0, rel=0.01)
    expected = (left + right) / 2
    assert _rms(audio.samples) == pytest.approx(_rms(expected), rel=0.01)


def test_opposite_channels_cancel_in_the_mixdown() -> None:
    tone = _tone(16000, 0.5)
    data = _file(np.stack([tone, -tone], axis=1), 16000, "WAV", "FLOAT")
    audio = decode_recording(data, "wav", 0, 0)
    assert np.abs(audio.samples).max() == 0.0


def test_eight_channel_wav_is_read_and_nine_are_refused() -> None:
    tone = _tone(16000, 0.25)
    eight = decode_recording(_file(np.tile(tone[:, None], (1, 8)), 16000, "WAV", "FLOAT"),
                             "wav", 0, 0)
    assert eight.source_channels == 8
    assert np.allclose(eight.samples, tone, atol=1e-6)
    with pytest.raises(InvalidAudio, match="WAV file has 9 channels; at most 8"):
        decode_recording(_file(np.tile(tone[:, None], (1, 9)), 16000, "WAV"), "wav", 0, 0)


def test_16k_mono_wav_passes_through_unchanged() -> None:
    tone = _tone(16000, 0.5)
    audio = decode_recording(_file(tone, 16000, "WAV", "FLOAT"), "wav", 16000, 1)
    assert np.array_equal(audio.samples, tone)
    assert not audio.samples.flags.writeable


def test_flac_decodes_like_the_same_wav() -> None:
    tone = _tone(44100, 1.5)
    flac = decode_recording(_file(tone, 44100, "FLAC"), "flac", 0, 0)
    wav = decode_recording(_file(tone, 44100, "WAV", "PCM_16"), "wav", 0, 0)
    # Both hold 16-bit samples; libsndfile's FLAC and WAV writers round float input differently.
    assert np.abs(flac.samples - wav.samples).max() < 1e-4
    assert flac.duration_s == 1.5 and len(flac.samples) == 24000


def test_flac_with_unknown_length_is_refused_by_name() -> None:
    data = bytearray(_file(_tone(16000, 1.0), 16000, "FLAC"))
    # STREAMINFO starts at byte 8; an encoder writing to a pipe leaves its 36-bit total 0.
    field = int.from_bytes(data[21:26], "big") & ~((1 << 36) - 1)
    data[21:26] = field.to_bytes(5, "big")
    with pytest.raises(InvalidAudio, match="FLAC header does not give the stream length"):
        decode_recording(bytes(data), "unspecified", 0, 0)


def test_linear16_raw_with_channels_and_resampling() -> None:
    left, right = _tone(8000, 1.0), _tone(8000, 1.0, amp=0.1)
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    audio = decode_recording(float_to_pcm16(interleaved), "linear16", 8000, 2)
    assert (audio.source_rate_hz, audio.source_channels, audio.duration_s) == (8000, 2, 1.0)
    assert len(audio.samples) == 16000
    assert _rms(audio.samples) == pytest.approx(0.3 / np.sqrt(2), rel=0.01)


def test_linear16_channel_count_zero_means_mono() -> None:
    tone = _tone(16000, 0.25)
    audio = decode_recording(float_to_pcm16(tone), "linear16", 16000, 0)
    assert audio.source_channels == 1
    assert np.abs(audio.samples - tone).max() <= 1 / 32768


def test_mulaw_raw_decodes_within_companding_error() -> None:
    tone = _tone(8000, 1.0)
    audio = decode_recording(float_to_mulaw(tone), "mulaw", 8000, 1)
    assert len(audio.samples) == 16000
    assert _peak_hz(audio.samples) == pytest.approx(440, abs=2)
    assert _rms(audio.samples) == pytest.approx(_rms(tone), rel=0.02)


def test_sniff_names_containers() -> None:
    assert sniff(_file(_tone(8000, 0.1), 8000, "WAV")) == "wav"
    assert sniff(_file(_tone(8000, 0.1), 8000, "FLAC")) == "flac"
    assert sniff(_file(_tone(8000, 0.1), 8000, "OGG", "VORBIS")) == "ogg"
    assert sniff(b"\x00\x01" * 100) is None


@pytest.mark.parametrize(
    ("data", "encoding", "rate", "channels", "message"),
    [
        (b"", "wav", 0, 0, "audio is empty"),
        (b"", "linear16", 16000, 1, "audio is empty"),
        (b"\x01\x02" * 50, "unspecified", 0, 0,
         "UNSPECIFIED encoding must be a recording in a known format .* not raw or unrecognised"
         " data \\(starting 01 02 01 02"),
        (b"%PDF-1.4 " * 20, "unspecified", 0, 0, "known format .* not a PDF document"),
        (b"OggS" + b"\x00" * 60, "unspecified", 0, 0, "Ogg audio is truncated or corrupt"),
        (b"\x00" * 101, "linear16", 16000, 1, "even byte count, not 101 bytes"),
        (b"\x00" * 102, "linear16", 16000, 2,
         "102 bytes is not a whole number of 2-channel frames"),
        (b"\x00" * 100, "linear16", 0, 1, "sample_rate_hz must be 8000 to 48000"),
        (b"\x00" * 100, "mulaw", 96000, 1, "sample_rate_hz must be 8000 to 48000"),
        (b"\x00" * 100, "linear16", 16000, 9, "audio_channel_count must be 1 to 8"),
        (b"\x00" * 100, "linear16", 16000, -1, "audio_channel_count must be 1 to 8"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav", 0, 0,
         "WAV header is truncated or corrupt: the file is 16 bytes"),
    ],
)
def test_bad_audio_is_refused_with_a_message_naming_the_problem(
    data: bytes, encoding: str, rate: int, channels: int, message: str
) -> None:
    with pytest.raises(InvalidAudio, match=message):
        decode_recording(data, encoding, rate, channels)


def test_declared_encoding_that_does_not_match_the_bytes() -> None:
    wav = _file(_tone(16000, 0.1), 16000, "WAV")
    flac = _file(_tone(16000, 0.1), 16000, "FLAC")
    with pytest.raises(InvalidAudio, match="encoding is FLAC but the audio is WAV data"):
        decode_recording(wav, "flac", 0, 0)
    with pytest.raises(InvalidAudio, match="encoding is WAV but the audio is FLAC data"):
        decode_recording(flac, "wav", 0, 0)
    with pytest.raises(InvalidAudio, match=r"LINEAR16 \(raw samples\) but the audio is WAV data"):
        decode_recording(wav, "linear16", 16000, 1)
    with pytest.raises(InvalidAudio, match="encoding is WAV but the audio is Ogg data"):
        decode_recording(_file(_tone(16000, 0.1), 16000, "OGG", "VORBIS"), "wav", 0, 0)
    with pytest.raises(InvalidAudio, match="encoding is FLAC but the audio is raw or unrecog"):
        decode_recording(b"\x00\x01" * 100, "flac", 0, 0)


def test_unknown_encoding_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match=r"unsupported audio encoding \(unknown encoding 9\)"):
        decode_recording(b"\x00\x00", "unknown encoding 9", 16000, 1)


def test_declared_rate_must_match_the_header() -> None:
    data = _file(_tone(22050, 0.2), 22050, "WAV")
    with pytest.raises(InvalidAudio, match="sample_rate_hz is 16000 but the WAV header says 22050"):
        decode_recording(data, "wav", 16000, 1)
    assert decode_recording(data, "wav", 22050, 1).source_rate_hz == 22050


def test_header_rate_outside_the_served_range() -> None:
    data = _file(_tone(96000, 0.1), 96000, "WAV")
    with pytest.raises(InvalidAudio, match="WAV sample rate is 96000 Hz; the server reads 8000"):
        decode_recording(data, "wav", 0, 0)


def test_corrupt_headers_never_leak_library_text() -> None:
    wav = bytearray(_file(_tone(16000, 0.1), 16000, "WAV"))
    wav[20:22] = b"\x99\x00"  # format tag 0x0099: no such WAV codec
    flac = _file(_tone(16000, 0.1), 16000, "FLAC")
    for data, encoding in ((bytes(wav), "wav"), (flac[:30], "flac"), (flac[:-100], "flac")):
        with pytest.raises(InvalidAudio) as caught:
            decode_recording(data, encoding, 0, 0)
        message = str(caught.value)
        assert "truncated or corrupt" in message
        assert not any(text in message for text in ("BytesIO", "object at", "Error opening"))


def test_empty_wav_data_chunk() -> None:
    with pytest.raises(InvalidAudio, match="WAV file holds no audio samples"):
        decode_recording(_file(np.zeros(0, np.float32), 16000, "WAV"), "wav", 0, 0)


def test_nan_in_float_wav_is_refused() -> None:
    tone = _tone(16000, 0.1)
    tone[10] = np.nan
    with pytest.raises(InvalidAudio, match="NaN or infinite"):
        decode_recording(_file(tone, 16000, "WAV", "FLOAT"), "wav", 0, 0)


def test_duration_limit_is_checked_before_the_whole_file_is_kept() -> None:
    data = _file(np.zeros(16000 * 5, np.float32), 16000, "FLAC")
    with pytest.raises(LimitExceeded, match="longer than the limit of 2 s"):
        decode_recording(data, "flac", 0, 0, max_duration_s=2.0)
    with pytest.raises(LimitExceeded, match="longer than the limit of 2 s"):
        decode_recording(b"\x00\x00" * 16000 * 3, "linear16", 16000, 1, max_duration_s=2.0)
    assert decode_recording(data, "flac", 0, 0, max_duration_s=5.0).duration_s == 5.0


def test_streamed_wav_with_unknown_sizes_is_read_to_its_end() -> None:
    # espeak-ng --stdout and ffmpeg writing to a pipe cannot seek back to fill in the RIFF and
    # data sizes, so they leave 0xFFFFFFFF there.
    tone = _tone(16000, 0.75)
    data = bytearray(_file(tone, 16000, "WAV", "PCM_16"))
    assert data[36:40] == b"data"
    data[4:8] = data[40:44] = b"\xff\xff\xff\xff"
    audio = decode_recording(bytes(data), "unspecified", 0, 0)
    assert len(audio.samples) == 12000
    assert np.abs(audio.samples - tone).max() <= 1 / 32768


def _encoded(samples: np.ndarray, rate_hz: int, container: str, codec: str) -> bytes:
    """`samples` (mono float32) encoded by FFmpeg through PyAV, as a user's app would."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate_hz)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate_hz
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("container", "codec", "rate_hz", "sniffed"),
    [("mp3", "libmp3lame", 44100, "MP3"), ("ipod", "aac", 44100, "MP4/M4A"),
     ("adts", "aac", 22050, "AAC"), ("ogg", "libopus", 48000, "Ogg"),
     ("webm", "libopus", 48000, "WebM")],
)
def test_compressed_recordings_are_sniffed_and_decoded(container: str, codec: str, rate_hz: int,
                                                        sniffed: str) -> None:
    tone = _tone(rate_hz, 1.0)
    data = _encoded(tone, rate_hz, container, codec)
    audio = decode_recording(data, "unspecified", 0, 0)
    assert audio.sample_rate_hz == 16000 and audio.source_rate_hz == rate_hz
    # lossy codecs add their encoder delay and frame padding, never more than a tenth of a second
    assert 1.0 <= audio.duration_s <= 1.1
    assert _peak_hz(audio.samples) == pytest.approx(440, abs=2)
    assert _rms(audio.samples) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    # cut inside the first frame: FFmpeg's reason, or no samples at all, never a library's text
    with pytest.raises(InvalidAudio, match=f"{sniffed}.* (is truncated or corrupt|holds no)"):
        decode_recording(data[:40], "unspecified", 0, 0)
    with pytest.raises(LimitExceeded, match="longer than the limit of 0.5 s"):
        decode_recording(data, "unspecified", 0, 0, max_duration_s=0.5)


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_ogg_from_libsndfile_is_decoded(subtype: str) -> None:
    stereo = np.stack([_tone(48000, 1.0), _tone(48000, 1.0)], axis=1)
    audio = decode_recording(_file(stereo, 48000, "OGG", subtype), "unspecified", 0, 0)
    assert audio.source_channels == 2
    assert audio.duration_s == pytest.approx(1.0, abs=0.03)
    assert _peak_hz(audio.samples) == pytest.approx(440, abs=2)


def test_mp3_frame_sync_is_believed_only_for_unspecified_audio() -> None:
    data = _encoded(_tone(44100, 0.5), 44100, "mp3", "libmp3lame")
    frames = data[data.index(b"\xff\xfb"):]  # no ID3 tag: the first MPEG frame header
    assert sniff(frames) is None  # raw PCM may start with these bytes
    assert decode_recording(frames, "unspecified", 0, 0).duration_s >= 0.5
    assert len(decode_recording(frames[:4000], "linear16", 16000, 1).samples) == 2000
