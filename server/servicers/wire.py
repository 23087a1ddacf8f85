"""RequestDecoding: each method's receive limit and the parsing of request bytes, at the edge.

gRPC would parse a request before any handler runs: undecodable bytes then end as UNKNOWN
(unary) or INTERNAL (streams) with no request-log line, and every method accepts messages up to
the server-wide receive cap. This interceptor registers every handler with raw bytes instead,
checks each message's size against its method's limit first, then parses it; a message past the
limit is RESOURCE_EXHAUSTED, one that does not parse INVALID_ARGUMENT, both naming the request id.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from voxserve.server import metrics
from voxserve.server.errors import LimitExceeded, MalformedRequest, VoxserveError
from voxserve.server.servicers.requestlog import current_request_id, request_id_from, split_method
from voxserve.server.servicers.status_mapping import abort

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class RequestParser:
    """Size check and parse of one method's request messages."""

    def __init__(self, method: str, deserializer: Callable[[bytes], Any], limit_bytes: int,
                 request_id: str) -> None:
        self.method = method
        self._request_id = request_id  # for calls the request log does not observe
        self._deserializer = deserializer
        self._limit_bytes = limit_bytes
        owner = getattr(deserializer, "__self__", None)
        descriptor = getattr(owner, "DESCRIPTOR", None)
        self._message_name = getattr(descriptor, "full_name", "the method's request")

    @property
    def request_id(self) -> str:
        current = current_request_id()
        return self._request_id if current == "-" else current

    def parse(self, raw: bytes) -> Any:
        if len(raw) > self._limit_bytes:
            self._count("too_large")
            raise LimitExceeded(
                f"request {self.request_id}: a {self.method} message is {len(raw)} bytes;"
                f" the limit for this method is {self._limit_bytes} bytes"
            )
        try:
            return self._deserializer(raw)
        except (DecodeError, ValueError, TypeError):
            self._count("malformed")
            raise MalformedRequest(
                f"request {self.request_id}: the message bytes do not parse as"
                f" {self._message_name}"
            ) from None

    def _count(self, reason: metrics.Refusal) -> None:
        service, method = split_method(self.method)
        metrics.count_bad_message(service, method, reason)

    async def parse_stream(self, raw_messages: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        async for raw in raw_messages:
            yield self.parse(raw)


class RequestDecoding(grpc.aio.ServerInterceptor):
    """Innermost interceptor: hands each handler raw bytes and parses them itself."""

    def __init__(self, limits_bytes: Mapping[str, int], default_limit_bytes: int) -> None:
        self._limits = dict(limits_bytes)
        self._default = default_limit_bytes

    def limit_bytes(self, method: str) -> int:
        return self._limits.get(method, self._default)

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        method = handler_call_details.method
        parser = RequestParser(method, handler.request_deserializer, self.limit_bytes(method),
                               request_id_from(handler_call_details.invocation_metadata or ()))
        return _raw_handler(handler, parser)


def _raw_handler(handler: grpc.RpcMethodHandler, parser: RequestParser) -> grpc.RpcMethodHandler:
    kind = (("stream" if handler.request_streaming else "unary") + "_"
            + ("stream" if handler.response_streaming else "unary"))
    behavior = getattr(handler, kind)
    if handler.request_streaming:
        wrapped = _streamed_requests(behavior, parser)
    else:
        wrapped = _unary_request(behavior, parser)
    make = getattr(grpc, f"{kind}_rpc_method_handler")
    return make(wrapped, request_deserializer=None,
                response_serializer=handler.response_serializer)


def _unary_request(behavior: Callable[..., Any], parser: RequestParser) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def stream(raw: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            request = await _parsed(parser, raw, context)
            async for response in behavior(request, context):
                yield response

        return stream

    async def unary(raw: bytes, context: grpc.aio.ServicerContext) -> Any:
        request = await _parsed(parser, raw, context)
        return await behavior(request, context)

    return unary


async def _parsed(parser: RequestParser, raw: bytes, context: grpc.aio.ServicerContext) -> Any:
    try:
        return parser.parse(raw)
    except VoxserveError as exc:
        await abort(context, exc, parser.method)


def _streamed_requests(behavior: Callable[..., Any], parser: RequestParser
                       ) -> Callable[..., Any]:
    """Requests parsed as the handler reads them. Voxserve's own servicers map the parser's
    errors themselves (after a stream's finals); any other handler's escape is mapped here."""
    if inspect.isasyncgenfunction(behavior):

        async def stream(raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
                         ) -> AsyncIterator[Any]:
            try:
                async for response in behavior(parser.parse_stream(raw_messages), context):
                    yield response
            except VoxserveError as exc:
                await abort(context, exc, parser.method)

        return stream

    async def unary(raw_messages: AsyncIterator[bytes], context: grpc.aio.ServicerContext
                    ) -> Any:
        try:
            return await behavior(parser.parse_stream(raw_messages), context)
        except VoxserveError as exc:
            await abort(context, exc, parser.method)

    return unary
