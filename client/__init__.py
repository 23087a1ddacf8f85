"""voxserve client: a Python library and the `voxserve` command line."""

from voxserve.client.client import VoxClient
from voxserve.client.connection import ConnectionOptions
from voxserve.client.streaming import (
    FINALIZE,
    AsyncStreamingRecognizer,
    StreamingRecognizer,
    StreamSettings,
)

__all__ = [
    "FINALIZE",
    "AsyncStreamingRecognizer",
    "ConnectionOptions",
    "StreamSettings",
    "StreamingRecognizer",
    "VoxClient",
]
