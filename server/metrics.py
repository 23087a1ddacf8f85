"""Metrics: the Prometheus instruments of one server process and the HTTP endpoint serving them.

The servicers and the lifecycle record through the small functions below (never the
instruments), so names, labels and buckets live in this one module.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.process_collector import ProcessCollector

Kind = Literal["recognition", "synthesis"]
Refusal = Literal["too_large", "malformed"]  # why a request message was refused at the edge
KINDS: tuple[Kind, ...] = ("recognition", "synthesis")

# No `*_created` series: they double the output and dashboards do not use them.
disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)
# CPU seconds, resident memory, open file descriptors of the server process.
ProcessCollector(registry=REGISTRY)

# Latencies of interactive speech: tens of milliseconds to tens of seconds.
LATENCY_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# Whole calls also include streams that last up to an hour.
DURATION_BUCKETS_S = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                      3600.0)
# Processing time over audio time: below 1 keeps up with live audio.
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
QUEUE_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ACTIVE_RPCS = Gauge("voxserve_active_rpcs", "RPCs in progress (streams included)",
                    ["service", "method"], registry=REGISTRY)
RPCS = Counter("voxserve_rpcs", "Finished RPCs by method and gRPC status code",
               ["service", "method", "code"], registry=REGISTRY)
RPC_DURATION = Histogram("voxserve_rpc_duration_seconds", "Duration of finished RPCs",
                         ["service", "method"], buckets=DURATION_BUCKETS_S, registry=REGISTRY)
FIRST_RESPONSE = Histogram(
    "voxserve_time_to_first_response_seconds",
    "From the call's start to its first response message (StreamingSynthesize: the first chunk)",
    ["service", "method"], buckets=LATENCY_BUCKETS_S, registry=REGISTRY)
ADMITTED = Gauge("voxserve_admission_in_use", "Calls holding an admission slot",
                 ["kind"], registry=REGISTRY)
CAPACITY = Gauge("voxserve_admission_capacity", "Admission slots (--max-streams, "
                 "--max-synthesis-calls)", ["kind"], registry=REGISTRY)
REFUSED = Counter("voxserve_admission_refused", "Calls refused at capacity (RESOURCE_EXHAUSTED)",
                  ["kind"], registry=REGISTRY)
FINAL_LATENCY = Histogram(
    "voxserve_final_latency_seconds",
    "StreamingRecognize: from the arrival of the audio holding an utterance's last voiced frame"
    " to its final result being ready",
    buckets=LATENCY_BUCKETS_S, registry=REGISTRY)
CANDIDATES = Counter(
    "voxserve_candidate_finals",
    "StreamingRecognize: candidate finals (decoded when speech pauses) by outcome: used as the"
    " final, or dropped because speech resumed or the stream ended",
    ["outcome"], registry=REGISTRY)
REAL_TIME_FACTOR = Histogram("voxserve_real_time_factor",
                             "Processing time divided by the audio's duration",
                             ["kind"], buckets=RTF_BUCKETS, registry=REGISTRY)
QUEUE_WAIT = Histogram("voxserve_queue_wait_seconds",
                       "Wait of a model call for a free inference worker",
                       buckets=QUEUE_BUCKETS_S, registry=REGISTRY)
MODEL_LOAD = Gauge("voxserve_model_load_seconds", "Time taken to load each model at start-up",
                   ["model"], registry=REGISTRY)
BAD_MESSAGES = Counter(
    "voxserve_bad_request_messages",
    "Request messages refused before parsing (too_large) or not parsing (malformed)",
    ["service", "method", "reason"], registry=REGISTRY)
POOL_RUNNING = Gauge("voxserve_inference_jobs_running",
                     "Model calls running on an inference worker now", registry=REGISTRY)
POOL_QUEUED = Gauge("voxserve_inference_jobs_queued",
                    "Model calls waiting for an inference worker", registry=REGISTRY)
POOL_STOPPED = Counter(
    "voxserve_inference_jobs_stopped",
    "Model calls whose caller went away: dropped while queued or stopped between steps",
    ["when"], registry=REGISTRY)
DRAINING = Gauge("voxserve_draining", "1 once the server drains (SIGTERM), else 0",
                 registry=REGISTRY)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


def observe_final_latency(seconds: float) -> None:
    """End of speech (when the audio of the VAD's last voiced frame arrived) to the final
    result of that utterance."""
    FINAL_LATENCY.observe(seconds)


def count_candidate(used: bool) -> None:
    """A candidate final became the final (`used`) or was dropped."""
    CANDIDATES.labels("used" if used else "dropped").inc()


def observe_real_time_factor(kind: Kind, processing_s: float, audio_s: float) -> None:
    """One Recognize / utterance / synthesis: its processing time over its audio duration."""
    _check_kind(kind)
    if audio_s > 0:
        REAL_TIME_FACTOR.labels(kind).observe(processing_s / audio_s)


def observe_queue_wait(seconds: float) -> None:
    """Time a model call waited for an inference worker."""
    QUEUE_WAIT.observe(seconds)


def set_model_load_time(model: str, seconds: float) -> None:
    MODEL_LOAD.labels(model).set(seconds)


def set_draining(draining: bool) -> None:
    DRAINING.set(1 if draining else 0)


def set_capacity(kind: Kind, slots: int) -> None:
    _check_kind(kind)
    CAPACITY.labels(kind).set(slots)


def admission_changed(kind: Kind, in_use: int) -> None:
    ADMITTED.labels(kind).set(in_use)


def count_refusal(kind: Kind) -> None:
    REFUSED.labels(kind).inc()


def count_bad_message(service: str, method: str, reason: Refusal) -> None:
    BAD_MESSAGES.labels(service, method, reason).inc()


def pool_changed(running: int, queued: int) -> None:
    POOL_RUNNING.set(running)
    POOL_QUEUED.set(queued)


def count_stopped_job(when: Literal["queued", "running"]) -> None:
    POOL_STOPPED.labels(when).inc()


def rpc_started(service: str, method: str) -> None:
    ACTIVE_RPCS.labels(service, method).inc()


def rpc_first_response(service: str, method: str, seconds: float) -> None:
    FIRST_RESPONSE.labels(service, method).observe(seconds)


def rpc_finished(service: str, method: str, code: str, seconds: float) -> None:
    ACTIVE_RPCS.labels(service, method).dec()
    RPCS.labels(service, method, code).inc()
    RPC_DURATION.labels(service, method).observe(seconds)


@dataclass
class MetricsEndpoint:
    """The running HTTP endpoint (`GET /metrics`); `close()` stops it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(host: str, port: int) -> MetricsEndpoint:
    """Serve REGISTRY over HTTP on a daemon thread, apart from the gRPC port."""
    try:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as exc:
        raise OSError(f"could not serve metrics on {host}:{port}: {exc.strerror}") from None
    return MetricsEndpoint(server, thread)
