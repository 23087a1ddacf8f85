"""Whisper export: CTranslate2 or openai checkpoints to the encoder/decoder ONNX pair."""
