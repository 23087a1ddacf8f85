"""The one place where domain errors become gRPC status codes."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from voxserve.server import errors

log = logging.getLogger("voxserve.rpc")

_CODES: tuple[tuple[type[errors.VoxserveError], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.ModelNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
)
INTERNAL_MESSAGE = "internal error; the server log has the details"
# Sent with capacity refusals so proxies (Envoy retry_on) and clients know another replica may
# take the call.
RETRYABLE_METADATA = ("voxserve-retryable", "true")


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Status code and client-facing message for any exception an RPC raised."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> None:
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("%s failed", method, exc_info=exc)
    trailing = tuple(context.trailing_metadata() or ())  # keeps x-request-id and the replica
    if isinstance(exc, errors.Overloaded):
        trailing += (RETRYABLE_METADATA,)
    await context.abort(code, message, trailing)


def rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a servicer method (coroutine or async generator) so domain errors become statuses."""
    name = method.__qualname__
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream(
            self: Any, request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            try:
                async for response in method(self, request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 - mapped to a status, logged if unexpected
                await _abort(context, exc, name)

        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status, logged if unexpected
            await _abort(context, exc, name)

    return unary
