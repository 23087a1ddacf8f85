"""ModelServicer: what the servicers that run models hold, set once at startup."""

from __future__ import annotations

from voxserve.server.admission import Admission
from voxserve.server.config import ServerConfig
from voxserve.server.inference import InferencePool
from voxserve.server.state import ServerState


class ModelServicer:
    """The loaded models (`state`), the inference pool they run on, the server's limits and the
    admission of the servicer's kind of call (recognition or synthesis)."""

    def __init__(self, state: ServerState, pool: InferencePool, config: ServerConfig,
                 admission: Admission) -> None:
        self._state = state
        self._pool = pool
        self._config = config
        self._admission = admission
