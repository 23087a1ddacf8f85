"""The errors an export can end with; each command prints the message and exits non-zero."""


class ExportError(Exception):
    """Base of every export failure; the message names the file or step and what went wrong."""


class WeightsError(ExportError):
    """Weights (a checkpoint, a CTranslate2 model, an ONNX graph) are missing, unreadable,
    corrupt or not the model the exporter expects."""


class VoiceConfigError(ExportError):
    """A Piper voice config (phoneme map, sample rate, speakers) is missing, unreadable or does
    not fit its model."""


class ParityError(ExportError):
    """The ONNX graphs disagree with the PyTorch module past the stated tolerance."""
