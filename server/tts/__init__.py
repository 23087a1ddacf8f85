"""Text to speech: espeak-ng phonemes and the Piper (VITS) voice engine on ONNX Runtime."""
