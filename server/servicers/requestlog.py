"""Request log: one structured line and the metrics of every RPC, under a request id.

The id comes from the client's `x-request-id` metadata (or is generated) and goes back with the
replica's name in the response metadata: in the headers when the call sends a response, and
always in the trailers, so refusals carry it too. Headers go out only with the first response,
never earlier, so a call refused at admission is still a plain, retryable error.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import grpc

from voxserve.server import metrics

log = logging.getLogger("voxserve.requests")

REQUEST_ID_KEY = "x-request-id"
REPLICA_KEY = "x-voxserve-replica"
# Ids from clients end up in log lines: printable, no spaces, bounded; anything else is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
QUIET_SERVICES = ("grpc.health.v1.Health",)  # probes every few seconds: logged at DEBUG only

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


def current_request_id() -> str:
    """The id of the RPC this code runs for ("-" outside any RPC)."""
    return _request_id.get()


def request_id_from(metadata: Sequence[tuple[str, str | bytes]]) -> str:
    for key, value in metadata:
        if key == REQUEST_ID_KEY and isinstance(value, str) and REQUEST_ID_PATTERN.fullmatch(value):
            return value
    return uuid.uuid4().hex


def split_method(path: str) -> tuple[str, str]:
    """"/voxserve.v1.Recognizer/Recognize" -> ("voxserve.v1.Recognizer", "Recognize")."""
    service, _, method = path.lstrip("/").partition("/")
    return service, method


@dataclass
class CallRecord:
    """What the request log learns about one call while it runs."""

    service: str
    method: str
    request_id: str
    peer: str
    replica: str
    started_s: float = field(default_factory=time.perf_counter)
    first_response_s: float | None = None
    responses: int = 0

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((REQUEST_ID_KEY, self.request_id), (REPLICA_KEY, self.replica))

    def fields(self, code: str, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "request_id": self.request_id,
            "service": self.service,
            "method": self.method,
            "code": code,
            "duration_ms": round(1000 * (time.perf_counter() - self.started_s), 1),
            "responses": self.responses,
            "peer": self.peer,
            "replica": self.replica,
        }
        if self.first_response_s is not None:
            entry["first_response_ms"] = round(1000 * self.first_response_s, 1)
        if code != "OK" and context.details():
            entry["details"] = context.details()
        return entry


class RequestLog(grpc.aio.ServerInterceptor):
    """Wraps every known method's handler to log, count and time it under a request id."""

    def __init__(self, replica: str, methods: frozenset[str]) -> None:
        self.replica = replica  # set once, before the server starts
        self._methods = methods  # known paths only, so metric labels stay a bounded set

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        path = handler_call_details.method
        service, method = split_method(path) if path in self._methods else ("unknown", "unknown")
        request_id = request_id_from(handler_call_details.invocation_metadata or ())
        return _observed(handler, lambda context: self._begin(service, method, request_id, context))

    def _begin(self, service: str, method: str, request_id: str,
               context: grpc.aio.ServicerContext) -> CallRecord:
        record = CallRecord(service, method, request_id, context.peer(), self.replica)
        _request_id.set(request_id)
        context.set_trailing_metadata(record.metadata)
        metrics.rpc_started(service, method)
        return record


def _observed(handler: grpc.RpcMethodHandler,
              begin: Callable[[grpc.aio.ServicerContext], CallRecord]) -> grpc.RpcMethodHandler:
    """The same handler with its behaviour wrapped; sync handlers pass through unobserved."""
    kind = (("stream" if handler.request_streaming else "unary") + "_"
            + ("stream" if handler.response_streaming else "unary"))
    behavior = getattr(handler, kind)
    if handler.response_streaming and inspect.isasyncgenfunction(behavior):
        wrapped: Callable[..., Any] = _streaming(behavior, begin)
    elif inspect.iscoroutinefunction(behavior):
        # unary responses, and health Watch, which writes its stream with context.write()
        wrapped = _unary(behavior, begin)
    else:
        return handler  # sync handlers: left as they are
    make = getattr(grpc, f"{kind}_rpc_method_handler")
    return make(wrapped, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def _unary(behavior: Callable[..., Awaitable[Any]],
           begin: Callable[[grpc.aio.ServicerContext], CallRecord]) -> Callable[..., Any]:
    async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
        record = begin(context)
        failure: BaseException | None = None
        try:
            response = await behavior(request, context)
            record.responses = 1
            await _send_headers(context, record)
            return response
        except BaseException as exc:
            failure = exc
            raise
        finally:
            _finish(record, context, failure)

    return observed


def _streaming(behavior: Callable[..., AsyncIterator[Any]],
               begin: Callable[[grpc.aio.ServicerContext], CallRecord]) -> Callable[..., Any]:
    async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        record = begin(context)
        failure: BaseException | None = None
        try:
            async for response in behavior(request, context):
                if record.responses == 0:
                    record.first_response_s = time.perf_counter() - record.started_s
                    metrics.rpc_first_response(record.service, record.method,
                                               record.first_response_s)
                    await _send_headers(context, record)
                record.responses += 1
                yield response
        except BaseException as exc:
            failure = exc
            raise
        finally:
            _finish(record, context, failure)

    return observed


async def _send_headers(context: grpc.aio.ServicerContext, record: CallRecord) -> None:
    try:
        await context.send_initial_metadata(record.metadata)
    except grpc.aio.UsageError:
        pass  # the servicer sent its own headers already


def status_code(context: grpc.aio.ServicerContext, failure: BaseException | None) -> str:
    """The status the client gets: what the handler set or aborted with, else OK / UNKNOWN."""
    if isinstance(failure, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return grpc.StatusCode.OK.name if failure is None else grpc.StatusCode.UNKNOWN.name


def _finish(record: CallRecord, context: grpc.aio.ServicerContext,
            failure: BaseException | None) -> None:
    code = status_code(context, failure)
    entry = record.fields(code, context)
    metrics.rpc_finished(record.service, record.method, code, entry["duration_ms"] / 1000)
    level = logging.DEBUG if record.service in QUIET_SERVICES else logging.INFO
    log.log(level, "%s", json.dumps(entry), extra={"rpc": entry})


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the request id of the RPC it was written for."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line; request-log lines carry their fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", current_request_id()),
        }
        rpc = getattr(record, "rpc", None)
        if isinstance(rpc, dict):
            entry.update(rpc, message="rpc finished")
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)
