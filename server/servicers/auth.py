"""Authentication: API keys checked by a server interceptor before a call's handler runs."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc

from voxserve.server.config import ServerConfig

log = logging.getLogger("voxserve.auth")

# Kubernetes probes and load balancers check health without credentials.
EXEMPT_PREFIXES = ("/grpc.health.v1.Health/",)
MISSING_MESSAGE = ("missing credentials: send `authorization: Bearer <API key>` "
                   "(or `x-api-key: <API key>`) metadata")
WRONG_MESSAGE = "invalid API key"

Metadata = Sequence[tuple[str, str | bytes]]
Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class ApiKeys:
    """The accepted keys, held only as SHA-256 digests and compared in constant time.

    Hashing first gives every comparison the same length, so the time taken says nothing about
    how long a key is or how much of it matched; every key is compared, found or not.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = tuple({_digest(key) for key in keys})
        if not self._digests:
            raise ValueError("no API keys given")

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self)} keys)"  # never the keys themselves

    def accepts(self, token: str) -> bool:
        digest = _digest(token)
        found = False
        for known in self._digests:
            found |= hmac.compare_digest(known, digest)
        return found


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).digest()


def read_keys_file(path: Path) -> list[str]:
    """One key a line; blank lines and lines starting with # are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.__class__.__name__
        raise ValueError(f"API keys file {path}: cannot read it ({reason})") from None
    keys = [line.strip() for line in text.splitlines()]
    keys = [key for key in keys if key and not key.startswith("#")]
    if not keys:
        raise ValueError(f"API keys file {path} holds no keys")
    return keys


def load_api_keys(config: ServerConfig) -> ApiKeys | None:
    """The keys of the config and its keys file; None when authentication is off."""
    if not config.tokens_required:
        return None
    keys = list(config.api_keys)
    if config.api_keys_file is not None:
        keys += read_keys_file(config.api_keys_file)
    return ApiKeys(keys)


def token_from(metadata: Metadata) -> str | None:
    """The presented key: `authorization: Bearer KEY` or `x-api-key: KEY`; None if neither."""
    for key, value in metadata:
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
        if key == "authorization":
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif key == "x-api-key" and text.strip():
            return text.strip()
    return None


def _refusal(message: str) -> grpc.RpcMethodHandler:
    """A handler that answers UNAUTHENTICATED without reading the request.

    It is declared request-streaming whatever the method is, so gRPC does not even receive a
    unary request (a whole recording) before the refusal goes out.
    """

    async def refuse(request_iterator: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.stream_unary_rpc_method_handler(refuse)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Lets a call through only with an accepted key; health checks need none."""

    def __init__(self, keys: ApiKeys, exempt_prefixes: tuple[str, ...] = EXEMPT_PREFIXES) -> None:
        self._keys = keys
        self._exempt = exempt_prefixes

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method.startswith(self._exempt):
            return await continuation(handler_call_details)
        token = token_from(handler_call_details.invocation_metadata or ())
        if token is None:
            log.info("refused %s: no credentials", method)
            return _refusal(MISSING_MESSAGE)
        if not self._keys.accepts(token):
            log.warning("refused %s: invalid API key", method)
            return _refusal(WRONG_MESSAGE)
        return await continuation(handler_call_details)
