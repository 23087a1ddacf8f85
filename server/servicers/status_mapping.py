"""The one place where domain errors become gRPC status codes."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from voxserve.server import errors

log = logging.getLogger("voxserve.rpc")

_CODES: tuple[tuple[type[errors.VoxserveError], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.Cancelled, grpc.StatusCode.CANCELLED),
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
# The standard places for the same: gRPC clients with a retry policy wait `grpc-retry-pushback-ms`
# before the next attempt; google.rpc.RetryInfo (in grpc-status-details-bin) says the same to
# clients that read rich error details.
PUSHBACK_KEY = "grpc-retry-pushback-ms"
DETAILS_KEY = "grpc-status-details-bin"
# A slot frees when a call ends: a second is about one short call's time.
OVERLOAD_RETRY_AFTER_S = 1.0


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """Status code and client-facing message for any exception an RPC raised."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


def retry_after_s(exc: BaseException) -> float | None:
    """How long a client should wait before retrying; None when retrying cannot help."""
    if isinstance(exc, errors.Overloaded):
        return OVERLOAD_RETRY_AFTER_S
    if isinstance(exc, errors.Unavailable):
        return exc.retry_after_s
    return None


def error_metadata(exc: BaseException, code: grpc.StatusCode, message: str
                   ) -> tuple[tuple[str, str | bytes], ...]:
    """Trailing metadata of an error: retry hints and google.rpc details (BadRequest field
    violations, RetryInfo), standard ones a client in any language can read."""
    details: list[any_pb2.Any] = []
    trailing: tuple[tuple[str, str | bytes], ...] = ()
    if isinstance(exc, errors.InvalidArgument) and exc.field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field,
                                                                description=message)
        details.append(_packed(error_details_pb2.BadRequest(field_violations=[violation])))
    delay_s = retry_after_s(exc)
    if delay_s is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(delay_s * 1000))
        details.append(_packed(error_details_pb2.RetryInfo(retry_delay=delay)))
        trailing += ((PUSHBACK_KEY, str(round(delay_s * 1000))),)
    if isinstance(exc, errors.Overloaded):
        trailing += (RETRYABLE_METADATA,)
    if isinstance(exc, errors.Unavailable):
        trailing += exc.resume
    if details:
        rich = status_pb2.Status(code=code.value[0], message=message, details=details)
        trailing += ((DETAILS_KEY, rich.SerializeToString()),)
    return trailing


def _packed(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


async def abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    """End the call with the status of `exc` (raises grpc.aio.AbortError)."""
    code, message = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("%s failed", method, exc_info=exc)
    trailing = tuple(context.trailing_metadata() or ())  # keeps x-request-id and the replica
    await context.abort(code, message, trailing + error_metadata(exc, code, message))


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
                await abort(context, exc, name)

        return stream

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to a status, logged if unexpected
            await abort(context, exc, name)

    return unary
