"""The domain exceptions of voxserve; the gRPC edge maps them to status codes in one place.

Engines and audio code raise these (never grpc errors); `voxserve.server.servicers.status_mapping`
turns them into gRPC status codes. Messages are written for the client: they name the problem
and the limit, never a Python class, path or traceback.
"""

import re

_FIELD_PATH = re.compile(r"[a-z_]+(\.[a-z_]+)+")


class VoxserveError(Exception):
    """Base of every error a client may see."""


class InvalidArgument(VoxserveError):
    """The request is malformed: bad config, out-of-range setting, empty text.

    `field` is the path of the request field at fault ("config.speaking_rate"), when one is:
    the edge sends it as a google.rpc.BadRequest field violation. Messages that open with a
    field path ("config.encoding 9 is unknown", docs/api.md's style) name it without `field`.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        opening = message.split(" ", 1)[0]
        if field is None and _FIELD_PATH.fullmatch(opening):
            field = opening
        self.field = field


class MalformedRequest(InvalidArgument):
    """A request's bytes do not parse as the method's message."""


class InvalidAudio(InvalidArgument):
    """The audio cannot be decoded as declared (bad header, wrong encoding, empty)."""


class ModelNotFound(VoxserveError):
    """The request names a model or voice the server does not hold."""


class LimitExceeded(VoxserveError):
    """A size, duration or rate limit was crossed (maps to RESOURCE_EXHAUSTED)."""


class Cancelled(VoxserveError):
    """A job saw its caller gone (cancelled or past its deadline) and stopped between steps."""


class Overloaded(VoxserveError):
    """The server is at capacity for this kind of call (maps to RESOURCE_EXHAUSTED)."""


class Unavailable(VoxserveError):
    """The server is draining or a model is not loaded yet (maps to UNAVAILABLE).

    `retry_after_s` is the pause after which retrying (here or elsewhere) should help; `resume`
    names where a drained stream's client resumes (sent as trailing metadata).
    """

    def __init__(self, message: str, retry_after_s: float = 0.0,
                 resume: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.resume = resume


class HandedOver(Unavailable):
    """A live stream ended by drain once its open utterance ended: its finals were sent, and
    the client resumes on another replica from the end of the last final (`resume_offset_s`,
    in the call's own audio time) with utterance `next_utterance_index` (of this call)."""

    def __init__(self, resume_offset_s: float, next_utterance_index: int) -> None:
        super().__init__("server is shutting down; resume the stream on another replica")
        self.resume_offset_s = resume_offset_s
        self.next_utterance_index = next_utterance_index


class ModelLoadError(VoxserveError):
    """A model in the repository is missing files or is corrupt (fails start-up)."""


class Unauthenticated(VoxserveError):
    """Missing or wrong credentials (maps to UNAUTHENTICATED)."""


class DeadlineExceeded(VoxserveError):
    """A stream waited too long for its first message or for audio (maps to DEADLINE_EXCEEDED)."""
