"""The deploy kit agrees with the server: env names and values, ports, drain timing, timeouts.

Dockerfiles cannot be built here and Envoy is not installed; these checks catch the mistakes
that would only show in production (a misspelt VOXSERVE_* variable is silently ignored, a
grace period shorter than the drain kills streams). nginx.conf runs for real in
test_deploy_nginx.py.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from voxserve.server.__main__ import options_from
from voxserve.server.config import ServerConfig

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DOCKERFILES = ("Dockerfile.cpu", "Dockerfile.cuda")
KNOWN_ENV = ({"VOXSERVE_" + f.name.upper() for f in dataclasses.fields(ServerConfig)}
             | {"VOXSERVE_LOG_LEVEL", "VOXSERVE_LOG_FORMAT"})


def docker_env(name: str) -> dict[str, str]:
    """The ENV of a Dockerfile's final stage."""
    text = DEPLOY.joinpath(name).read_text().replace("\\\n", " ")
    final = text[text.rindex("\nFROM "):]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def k8s(name: str) -> dict[str, dict[str, Any]]:
    docs = yaml.safe_load_all(DEPLOY.joinpath("k8s", name).read_text())
    return {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in docs}


def container() -> dict[str, Any]:
    deployment = k8s("deployment.yaml")["Deployment/voxserve"]
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def pod_env() -> dict[str, str]:
    return {e["name"]: e["value"] for e in container()["env"] if "value" in e}


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_env_is_a_valid_config(dockerfile: str) -> None:
    env = docker_env(dockerfile)
    voxserve = {k: v for k, v in env.items() if k.startswith("VOXSERVE_")}
    assert set(voxserve) <= KNOWN_ENV
    config, _, log_format = options_from([], voxserve)
    assert (config.port, config.metrics_port, config.models_dir) == (50051, 9464, Path("/models"))
    assert log_format == "json"
    text = DEPLOY.joinpath(dockerfile).read_text()
    assert 'ENTRYPOINT ["voxserve", "serve"]' in text
    assert "--out /models/whisper-tiny.en" in text and "--out /models/en_US-joe-medium" in text
    assert "--model base --out /models/whisper-base" in text  # the multilingual default
    assert re.search(r"EXPOSE 50051 9464\b", text)


def test_pod_env_is_a_valid_config() -> None:
    names = {e["name"] for e in container()["env"]}
    assert names <= KNOWN_ENV | {"VOXSERVE_API_KEYS"}
    env = {**docker_env("Dockerfile.cpu"), **pod_env()}
    config, _, _ = options_from([], {k: v for k, v in env.items() if k.startswith("VOXSERVE_")})
    assert config.max_connection_age_s == 1800
    assert config.connection_age_grace_s == config.max_stream_duration_s == 3600


def test_termination_grace_covers_the_drain() -> None:
    spec = k8s("deployment.yaml")["Deployment/voxserve"]["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain_s = int(pre_stop[1]) + float(pod_env()["VOXSERVE_GRACE_S"])
    assert spec["terminationGracePeriodSeconds"] >= drain_s + 5
    liveness = c["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > drain_s


def test_probes_and_ports_match() -> None:
    c = container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9464}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"] == {"port": ports["grpc"]}
    template = k8s("deployment.yaml")["Deployment/voxserve"]["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == str(ports["metrics"])
    labels = template["metadata"]["labels"]
    for service in k8s("service.yaml").values():
        assert service["spec"]["selector"].items() <= labels.items()
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    scaling = k8s("hpa.yaml")
    assert scaling["HorizontalPodAutoscaler/voxserve"]["spec"]["scaleTargetRef"]["name"] == \
        "voxserve"
    assert scaling["PodDisruptionBudget/voxserve"]["spec"]["selector"]["matchLabels"].items() \
        <= labels.items()


def _seconds(text: str) -> float:
    return float(text.removesuffix("s"))


def test_envoy_does_not_cut_long_streams() -> None:
    envoy = yaml.safe_load(DEPLOY.joinpath("envoy.yaml").read_text())
    (listener,) = envoy["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    longest_s = ServerConfig().max_stream_duration_s
    assert _seconds(manager["stream_idle_timeout"]) >= longest_s
    assert _seconds(manager["request_timeout"]) == 0
    (route,) = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert _seconds(route["route"]["timeout"]) == 0
    retry = route["route"]["retry_policy"]
    assert "resource-exhausted" not in retry["retry_on"]  # limits of a call are not retried
    assert retry["retriable_headers"] == [{"name": "voxserve-retryable", "present_match": True}]
    (cluster,) = envoy["static_resources"]["clusters"]
    assert cluster["health_checks"][0]["grpc_health_check"] == {}
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    service = k8s("service.yaml")["Service/voxserve-headless"]
    assert (address["address"], address["port_value"]) == (
        "voxserve-headless", service["spec"]["ports"][0]["port"])


def test_nginx_does_not_cut_long_streams() -> None:
    text = DEPLOY.joinpath("nginx.conf").read_text()
    settings = dict(re.findall(r"(?m)^\s*(\w+) ([^;#\n]+);", text))
    longest_s = ServerConfig().max_stream_duration_s
    for name in ("client_body_timeout", "grpc_read_timeout", "grpc_send_timeout"):
        assert _seconds(settings[name]) >= longest_s, name
    assert settings["client_max_body_size"] == "0"
    assert "grpc_pass grpc://voxserve" in text
