"""VITS export: Piper-trained PyTorch checkpoints to a Piper-compatible ONNX voice."""
