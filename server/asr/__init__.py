"""Whisper speech recognition in ONNX Runtime: features, tokenizer, decoding, timing, engine."""
