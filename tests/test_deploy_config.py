"""Deployment settings: keepalive and connection-age options, env parsing of the new flags."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from voxserve.server.__main__ import options_from
from voxserve.server.app import channel_options
from voxserve.server.config import ServerConfig


def test_default_channel_options() -> None:
    options = dict(channel_options(ServerConfig()))
    assert options["grpc.keepalive_time_ms"] == 30_000
    assert options["grpc.keepalive_timeout_ms"] == 10_000
    assert options["grpc.max_connection_age_ms"] == 1_800_000  # 30 min
    # Grace: the longest stream allowed, so a connection's age never cuts a dictation short.
    assert options["grpc.max_connection_age_grace_ms"] == 3_600_000
    assert options["grpc.so_reuseport"] == 0


def test_connection_age_settings() -> None:
    options = dict(channel_options(ServerConfig(max_connection_age_s=60, max_stream_duration_s=90,
                                                keepalive_time_s=20)))
    assert (options["grpc.max_connection_age_ms"], options["grpc.max_connection_age_grace_ms"],
            options["grpc.keepalive_time_ms"]) == (60_000, 90_000, 20_000)
    explicit = dict(channel_options(ServerConfig(max_connection_age_grace_s=5)))
    assert explicit["grpc.max_connection_age_grace_ms"] == 5_000
    unlimited = dict(channel_options(ServerConfig(max_connection_age_s=0)))
    assert "grpc.max_connection_age_ms" not in unlimited
    huge = dict(channel_options(ServerConfig(max_stream_duration_s=10**9)))
    assert huge["grpc.max_connection_age_grace_ms"] == 2**31 - 1  # a C int


def test_bad_connection_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="max_connection_age_s must be >= 0"):
        ServerConfig(max_connection_age_s=-1)
    with pytest.raises(ValueError, match="keepalive"):
        ServerConfig(keepalive_time_s=0.5)
    with pytest.raises(ValueError, match="metrics_port must differ from port"):
        ServerConfig(port=9000, metrics_port=9000)


def test_env_sets_the_deployment_flags(tmp_path: Path) -> None:
    env = {
        "VOXSERVE_API_KEYS": " k1, k2 ,,",
        "VOXSERVE_ALLOW_INSECURE_TOKENS": "true",
        "VOXSERVE_METRICS_PORT": "9464",
        "VOXSERVE_MAX_CONNECTION_AGE_GRACE_S": "12.5",
        "VOXSERVE_TLS_CLIENT_CA_FILE": str(tmp_path / "ca.pem"),
        "VOXSERVE_TLS_CERT_FILE": str(tmp_path / "cert.pem"),
        "VOXSERVE_TLS_KEY_FILE": str(tmp_path / "key.pem"),
        "VOXSERVE_REPLICA_ID": "pod-1",
        "VOXSERVE_LOG_FORMAT": "json",
    }
    config, level, log_format = options_from([], env)
    assert config.api_keys == ("k1", "k2") and config.allow_insecure_tokens
    assert (config.metrics_port, config.max_connection_age_grace_s, config.replica_id) == (
        9464, 12.5, "pod-1")
    assert config.tls_client_ca_file == tmp_path / "ca.pem" and config.tls
    assert (level, log_format) == ("INFO", "json")
    flags, _, _ = options_from(["--no-allow-insecure-tokens", "--metrics-port", "0"],
                               {"VOXSERVE_ALLOW_INSECURE_TOKENS": "1"})
    assert (flags.allow_insecure_tokens, flags.metrics_port) == (False, 0)


def test_bad_env_values_name_the_variable() -> None:
    with pytest.raises(ValueError, match="VOXSERVE_ALLOW_INSECURE_TOKENS='maybe'"):
        options_from([], {"VOXSERVE_ALLOW_INSECURE_TOKENS": "maybe"})
    with pytest.raises(ValueError, match="VOXSERVE_METRICS_PORT='x'"):
        options_from([], {"VOXSERVE_METRICS_PORT": "x"})


def test_keys_have_no_flag() -> None:
    result = subprocess.run([sys.executable, "-m", "voxserve.server", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--api-keys-file" in result.stdout and "--api-keys " not in result.stdout
    assert "VOXSERVE_API_KEYS" in result.stdout


@pytest.mark.parametrize("flag", ["--port", "--metrics-port"])
def test_a_port_in_use_stops_the_start(flag: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--metrics-port": "0", flag: str(port)}
        result = subprocess.run(
            [sys.executable, "-m", "voxserve.server", "--host", "127.0.0.1",
             "--models-dir", str(tmp_path), *[x for item in ports.items() for x in item]],
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
