"""Channels to a voxserve server: target, credentials, and the client-side keepalive."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

# Keepalive every 30 s keeps NAT and load-balancer idle timers from cutting long dictations;
# the server accepts pings as often as every 10 s.
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Whole recordings may exceed gRPC's 4 MiB default in either direction.
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


@dataclass(frozen=True)
class ConnectionOptions:
    """Where and how to connect. TLS files are PEM paths; a token goes in `authorization`.

    `fallback_targets` are further replicas: a call refused by one (at capacity, draining,
    gone) is retried on the next.
    """

    target: str = "localhost:50051"
    fallback_targets: tuple[str, ...] = ()
    token: str | None = None
    tls: bool = False
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.target, *self.fallback_targets)

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not (self.tls or self.ca_cert or self.client_cert):
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_cert),
            private_key=_read(self.client_key),
            certificate_chain=_read(self.client_cert),
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path else None


def open_channel(options: ConnectionOptions, target: str | None = None) -> grpc.Channel:
    """A channel to `target` (default: options.target) with the options' credentials."""
    target = target or options.target
    credentials = options.credentials()
    if credentials is None:
        return grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.secure_channel(target, credentials, options=CHANNEL_OPTIONS)


def open_aio_channel(options: ConnectionOptions, target: str | None = None) -> grpc.aio.Channel:
    target = target or options.target
    credentials = options.credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
