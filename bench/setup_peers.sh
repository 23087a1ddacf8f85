#!/usr/bin/env bash
# Creates .bench-venv/ at the repository root with the benchmark peers: faster-whisper
# (CTranslate2) and piper-tts. They pull `onnxruntime` and `ctranslate2`, which must never enter
# the project's venv (plain onnxruntime overwrites onnxruntime-gpu's module), so they live here
# and bench/*.py run them as subprocesses (bench/peers/*.py). Safe to re-run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${BENCH_VENV:-$repo/.bench-venv}
python=${PYTHON:-python3}

# Pinned so that figures in docs/benchmarks.md stay comparable between runs.
PEERS=(
    "faster-whisper==1.2.1"
    "piper-tts==1.8.0"
)

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "${PEERS[@]}"
"$venv/bin/python" -c "import faster_whisper, piper; print('peers ready in $venv')"
