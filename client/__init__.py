"""voxserve client: a Python library and the `voxserve` command line."""

from voxserve.client.client import VoxClient
from voxserve.client.connection import ConnectionOptions
from voxserve.client.streaming import AsyncStreamingRecognizer, StreamingRecognizer, StreamSettings

__all__ = [
    "AsyncStreamingRecognizer",
    "ConnectionOptions",
    "StreamSettings",
    "StreamingRecognizer",
    "VoxClient",
]
