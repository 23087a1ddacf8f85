"""The domain exceptions of voxserve; the gRPC edge maps them to status codes in one place.

Engines and audio code raise these (never grpc errors); `voxserve.server.servicers.status_mapping`
turns them into gRPC status codes. Messages are written for the client: they name the problem
and the limit, never a Python class, path or traceback.
"""


class VoxserveError(Exception):
    """Base of every error a client may see."""


class InvalidArgument(VoxserveError):
    """The request is malformed: bad config, out-of-range setting, empty text."""


class InvalidAudio(InvalidArgument):
    """The audio cannot be decoded as declared (bad header, wrong encoding, empty)."""


class ModelNotFound(VoxserveError):
    """The request names a model or voice the server does not hold."""


class LimitExceeded(VoxserveError):
    """A size, duration or rate limit was crossed (maps to RESOURCE_EXHAUSTED)."""


class Overloaded(VoxserveError):
    """The server is at capacity for this kind of call (maps to RESOURCE_EXHAUSTED)."""


class Unavailable(VoxserveError):
    """The server is draining or a model is not loaded yet (maps to UNAVAILABLE)."""


class ModelLoadError(VoxserveError):
    """A model in the repository is missing files or is corrupt (fails start-up)."""


class Unauthenticated(VoxserveError):
    """Missing or wrong credentials (maps to UNAUTHENTICATED)."""


class DeadlineExceeded(VoxserveError):
    """A stream waited too long for its first message or for audio (maps to DEADLINE_EXCEEDED)."""
