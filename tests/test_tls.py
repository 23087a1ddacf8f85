"""TLS and mutual TLS handshakes against the real server, with certificates made in the test.

The in-process servers are the real `create_server` on 127.0.0.1:0 with models not loaded: the
handshake and health are what is tested; calls past them answer UNAVAILABLE (still loading).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.serverproc import ServerProcess
from voxserve.client.client import VoxClient
from voxserve.client.connection import ConnectionOptions, open_aio_channel, open_channel
from voxserve.server.app import Server, create_server
from voxserve.server.config import ServerConfig
from voxserve.server.servicers.tls import server_credentials
from voxserve.v1 import models_pb2, models_pb2_grpc

KEY = "vx-tls-test-key"


@dataclass(frozen=True)
class Pem:
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(folder: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]
           | None, usage: x509.ObjectIdentifier | None) -> tuple[x509.Certificate,
                                                                  ec.EllipticCurvePrivateKey, Pem]:
    """A P-256 key and certificate: a self-signed CA when `issuer` is None, else a leaf."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(name)).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if issuer is None:
        builder = builder.issuer_name(_name(name)).add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True)
        signer = key
    else:
        assert usage is not None
        builder = builder.issuer_name(issuer[0].subject).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        signer = issuer[1]
    cert = builder.sign(signer, hashes.SHA256())
    pem = Pem(folder / f"{name}.crt", folder / f"{name}.key")
    pem.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key, pem


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem
    client: Pem
    rogue_client: Pem  # signed by a CA the server does not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key, ca = _issue(folder, "ca", None, None)
    _, _, server = _issue(folder, "server", (ca_cert, ca_key), ExtendedKeyUsageOID.SERVER_AUTH)
    _, _, client = _issue(folder, "client", (ca_cert, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH)
    rogue_cert, rogue_key, _ = _issue(folder, "rogue-ca", None, None)
    _, _, rogue = _issue(folder, "rogue-client", (rogue_cert, rogue_key),
                         ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca, server, client, rogue)


@asynccontextmanager
async def serving(config: ServerConfig) -> AsyncIterator[Server]:
    """The real server on 127.0.0.1:0, health SERVING, models not loaded."""
    server = create_server(config)
    await server.grpc_server.start()
    await server.set_serving(True)
    try:
        yield server
    finally:
        await server.grpc_server.stop(0)


async def _health(options: ConnectionOptions) -> int:
    async with open_aio_channel(options) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(response.status)


async def _health_error(options: ConnectionOptions) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _health(options)
    return caught.value


def _tls_config(pki: Pki, **overrides: object) -> ServerConfig:
    settings: dict[str, object] = dict(host="127.0.0.1", port=0, tls_cert_file=pki.server.cert,
                                       tls_key_file=pki.server.key)
    return ServerConfig(**{**settings, **overrides})  # type: ignore[arg-type]


async def test_tls_handshake_and_plaintext_refused(pki: Pki) -> None:
    async with serving(_tls_config(pki)) as server:
        target = f"127.0.0.1:{server.port}"
        assert await _health(ConnectionOptions(target, ca_cert=pki.ca.cert)) == \
            health_pb2.HealthCheckResponse.SERVING
        plaintext = await _health_error(ConnectionOptions(target))
        untrusted = await _health_error(ConnectionOptions(target, tls=True))  # system CAs only
    assert plaintext.code() == grpc.StatusCode.UNAVAILABLE
    assert untrusted.code() == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(pki: Pki) -> None:
    async with serving(_tls_config(pki, tls_client_ca_file=pki.ca.cert)) as server:
        target = f"127.0.0.1:{server.port}"
        with_cert = ConnectionOptions(target, ca_cert=pki.ca.cert, client_cert=pki.client.cert,
                                      client_key=pki.client.key)
        assert await _health(with_cert) == health_pb2.HealthCheckResponse.SERVING
        without = await _health_error(ConnectionOptions(target, ca_cert=pki.ca.cert))
        rogue = await _health_error(ConnectionOptions(
            target, ca_cert=pki.ca.cert, client_cert=pki.rogue_client.cert,
            client_key=pki.rogue_client.key))
    assert without.code() == grpc.StatusCode.UNAVAILABLE
    assert rogue.code() == grpc.StatusCode.UNAVAILABLE


async def test_tokens_over_tls_need_no_override(pki: Pki) -> None:
    config = _tls_config(pki, api_keys=(KEY,))
    assert not config.allow_insecure_tokens
    async with serving(config) as server:
        target = f"127.0.0.1:{server.port}"
        async with open_aio_channel(ConnectionOptions(target, ca_cert=pki.ca.cert)) as channel:
            stub = models_pb2_grpc.ModelsStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await stub.ListModels(models_pb2.ListModelsRequest(), timeout=5)
        options = ConnectionOptions(target, ca_cert=pki.ca.cert, token=KEY)
        async with open_aio_channel(options) as channel:
            stub = models_pb2_grpc.ModelsStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as authenticated:
                await stub.ListModels(models_pb2.ListModelsRequest(), timeout=5,
                                      metadata=options.metadata())
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert authenticated.value.code() == grpc.StatusCode.UNAVAILABLE  # past auth: still loading


def test_config_checks_the_tls_files_go_together(pki: Pki) -> None:
    with pytest.raises(ValueError, match="tls_cert_file and tls_key_file must be given together"):
        ServerConfig(tls_cert_file=pki.server.cert)
    with pytest.raises(ValueError, match="needs tls_cert_file and tls_key_file"):
        ServerConfig(tls_client_ca_file=pki.ca.cert)
    assert server_credentials(ServerConfig()) is None


def test_unreadable_or_non_pem_files_are_named(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "missing.crt"
    with pytest.raises(ValueError, match=f"TLS certificate file {missing}: cannot read it"):
        server_credentials(ServerConfig(tls_cert_file=missing, tls_key_file=pki.server.key))
    junk = tmp_path / "junk.key"
    junk.write_text("not a key")
    with pytest.raises(ValueError, match=f"TLS key file {junk} is not a PEM file"):
        server_credentials(ServerConfig(tls_cert_file=pki.server.cert, tls_key_file=junk))


class TlsServerProcess(ServerProcess):
    """The real server process, its health checked over TLS with the test CA."""

    def __init__(self, models_dir: Path, pki: Pki, *args: str, env: dict[str, str]) -> None:
        super().__init__(models_dir, *args, env=env)
        self.pki = pki

    def health(self, service: str = "", timeout_s: float = 2.0) -> int:
        options = ConnectionOptions(self.target, ca_cert=self.pki.ca.cert,
                                    client_cert=self.pki.client.cert,
                                    client_key=self.pki.client.key)
        with open_channel(options) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service=service)
            return int(stub.Check(request, timeout=timeout_s).status)


def test_real_server_with_mutual_tls_and_a_key(models_dir: Path, pki: Pki) -> None:
    args = ("--tls-cert-file", str(pki.server.cert), "--tls-key-file", str(pki.server.key),
            "--tls-client-ca-file", str(pki.ca.cert))
    with TlsServerProcess(models_dir, pki, *args, env={"VOXSERVE_API_KEYS": KEY}) as proc:
        proc.wait_serving()
        options = ConnectionOptions(proc.target, token=KEY, ca_cert=pki.ca.cert,
                                    client_cert=pki.client.cert, client_key=pki.client.key)
        with VoxClient(options) as client:
            response = client.synthesize("Hello over mutual TLS.")
        assert response.voice == "en_US-joe-medium"
        # 16-bit samples at the stated rate: the stated duration is the audio's own
        assert response.audio_duration_ms == round(
            500 * len(response.audio_content) / response.sample_rate_hz)
        assert "(TLS, replica" in proc.output()
