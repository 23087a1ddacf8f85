"""ServerState: what every servicer shares - the repository once loaded, and the drain signal."""

from __future__ import annotations

import asyncio

from voxserve.server.errors import Unavailable
from voxserve.server.repository import ModelRepository


class ServerState:
    """Set once by the lifecycle (models loaded, drain started); read by the servicers."""

    def __init__(self) -> None:
        self._repository: ModelRepository | None = None
        self.draining = asyncio.Event()

    @property
    def repository(self) -> ModelRepository:
        if self.draining.is_set():
            raise Unavailable("server is shutting down; retry on another replica")
        if self._repository is None:
            raise Unavailable("models are still loading; retry shortly")
        return self._repository

    def set_repository(self, repository: ModelRepository) -> None:
        self._repository = repository
