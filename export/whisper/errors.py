"""The errors an export can end with; the command prints their message and exits non-zero."""


class ExportError(Exception):
    """Base of every export failure; the message names the file or step and what went wrong."""


class WeightsError(ExportError):
    """Weights are missing, truncated, corrupt or not a Whisper model."""


class ParityError(ExportError):
    """The ONNX graphs disagree with the PyTorch module past the stated tolerance."""
