"""HealthServicer: the standard grpc.health.v1 service, whose Watch streams end at drain.

grpc's own servicer keeps every Watch open until the server stops, so one open watcher (a
load balancer, a sidecar) holds shutdown for the whole grace. Here a Watch sends NOT_SERVING
once draining starts and then ends with UNAVAILABLE, as the health protocol expects of a server
that goes away (watchers retry, elsewhere or later).
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ServingStatus = int  # a health_pb2.HealthCheckResponse.ServingStatus value


class HealthServicer(health_pb2_grpc.HealthServicer):
    """Status per service name ("" is the whole server); Check and Watch read it."""

    def __init__(self, draining: asyncio.Event) -> None:
        self._status: dict[str, ServingStatus] = {}
        self._changed = asyncio.Condition()
        self._draining = draining

    async def set(self, service: str, status: ServingStatus) -> None:
        async with self._changed:
            self._status[service] = status
            self._changed.notify_all()

    async def drained(self) -> None:
        """Wake the watchers once `draining` is set: they send their last status and end."""
        async with self._changed:
            self._changed.notify_all()

    async def Check(self, request: health_pb2.HealthCheckRequest,
                    context: grpc.aio.ServicerContext) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: health_pb2.HealthCheckRequest,
                    context: grpc.aio.ServicerContext) -> None:
        last: ServingStatus | None = None
        async with self._changed:
            while True:
                status = self._status.get(request.service,
                                          health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
                if status != last:
                    await context.write(health_pb2.HealthCheckResponse(status=status))
                    last = status
                if self._draining.is_set():
                    break
                await self._changed.wait()
        await context.abort(grpc.StatusCode.UNAVAILABLE,
                            "server is shutting down; watch another replica")
