"""TLS: the server's credentials (TLS, or mutual TLS with a client CA) from PEM files."""

from __future__ import annotations

from pathlib import Path

import grpc

from voxserve.server.config import ServerConfig


def _read_pem(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{what} {path} is not a PEM file")
    return data


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from the config's files; None for plaintext.

    With a client CA the server asks every client for a certificate and refuses the handshake
    without one it signed (mutual TLS).
    """
    if config.tls_cert_file is None or config.tls_key_file is None:
        return None
    chain = _read_pem(config.tls_cert_file, "TLS certificate file")
    key = _read_pem(config.tls_key_file, "TLS key file")
    client_ca = (None if config.tls_client_ca_file is None
                 else _read_pem(config.tls_client_ca_file, "TLS client CA file"))
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
