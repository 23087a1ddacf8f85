"""The `voxserve` command as a user runs it: synthesize a file, transcribe it back, list models."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

from tests.serverproc import ServerProcess
from tests.wer import wer

TEXT = "Please call me back when you get this message."


def voxserve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voxserve.client", *args],
                          capture_output=True, text=True, timeout=120)


def test_synthesize_then_transcribe(server: ServerProcess, tmp_path: Path) -> None:
    out = tmp_path / "speech.wav"
    spoken = voxserve("synthesize", TEXT, "-o", str(out), "--server", server.target)
    assert spoken.returncode == 0, spoken.stderr
    with wave.open(str(out)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 22050)
        assert 1.5 < wav.getnframes() / 22050 < 6
    heard = voxserve("transcribe", str(out), "--server", server.target)
    assert heard.returncode == 0, heard.stderr
    # the voice's sampling noise varies from run to run: allow one word in nine ("Place call")
    assert wer([TEXT], [heard.stdout.strip()]) <= 1 / 9 + 1e-9
    full = voxserve("transcribe", str(out), "--json", "--words", "--server", server.target)
    result = json.loads(full.stdout)
    assert result["model"] == "whisper-tiny.en" and result["language_code"] == "en"
    words = [w["word"] for r in result["results"] for w in r["words"]]
    assert len(words) == len(TEXT.split())


def test_streamed_synthesis_writes_the_same_kind_of_file(server: ServerProcess,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "stream.wav"
    result = voxserve("synthesize", "One. Two. Three.", "-o", str(out), "--stream",
                      "--sample-rate", "16000", "--server", server.target)
    assert result.returncode == 0, result.stderr
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 16000 and wav.getnframes() > 16000


def test_models_lists_both_defaults(server: ServerProcess) -> None:
    result = voxserve("models", "--server", server.target)
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [
        ["whisper-tiny.en", "recognizer"], ["en_US-joe-medium", "voice"]]
    assert all(line.endswith("(default)") for line in lines)


def test_errors_are_one_line_without_traceback(server: ServerProcess, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    result = voxserve("transcribe", str(bad), "--server", server.target)
    assert result.returncode == 1
    assert result.stderr.startswith("voxserve transcribe: INVALID_ARGUMENT: ")
    assert "Traceback" not in result.stderr


def test_cpu_fallback_is_quiet(server: ServerProcess) -> None:
    """onnxruntime-gpu on a machine without a GPU: CPU, and no provider errors in the log."""
    log = server.output()
    assert "CUDAExecutionProvider" not in log
    assert "[E:onnxruntime" not in log and "[W:onnxruntime" not in log
