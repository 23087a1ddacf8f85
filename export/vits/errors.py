"""The errors a VITS export can end with; the command prints their message and exits non-zero."""


class ExportError(Exception):
    """Base of every VITS export failure; the message names the file or step and the problem."""


class CheckpointError(ExportError):
    """The checkpoint is unreadable, is not a Piper VITS generator or disagrees with its config."""


class VoiceConfigError(ExportError):
    """The Piper voice config (phoneme map, sample rate, speakers) is missing or inconsistent."""


class ParityError(ExportError):
    """The ONNX graph disagrees with the PyTorch module past the stated tolerance."""
