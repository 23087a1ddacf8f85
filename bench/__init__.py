"""Benchmarks: voxserve against its peers (faster-whisper, piper-tts) in the same run."""
