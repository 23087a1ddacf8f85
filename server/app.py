"""The server's life: create (bind), start, load models, serve, drain on a signal, exit."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from voxserve.server import metrics
from voxserve.server.admission import Admission
from voxserve.server.config import ServerConfig
from voxserve.server.inference import InferencePool
from voxserve.server.metrics import MetricsEndpoint
from voxserve.server.repository import load_repository
from voxserve.server.servicers.auth import AuthInterceptor, load_api_keys
from voxserve.server.servicers.classifier import ClassifierServicer
from voxserve.server.servicers.health import HealthServicer
from voxserve.server.servicers.models import ModelsServicer
from voxserve.server.servicers.recognizer import RecognizerServicer
from voxserve.server.servicers.requestlog import RequestLog
from voxserve.server.servicers.synthesizer import SynthesizerServicer
from voxserve.server.servicers.tls import server_credentials
from voxserve.server.servicers.wire import RequestDecoding
from voxserve.server.state import ServerState
from voxserve.server.streaming.settings import Detector
from voxserve.v1 import (
    classifier_pb2,
    classifier_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    recognizer_pb2,
    recognizer_pb2_grpc,
    synthesizer_pb2,
    synthesizer_pb2_grpc,
)

log = logging.getLogger("voxserve")

SERVICES = tuple(
    pb2.DESCRIPTOR.services_by_name[name].full_name
    for pb2, name in (
        (recognizer_pb2, "Recognizer"), (synthesizer_pb2, "Synthesizer"), (models_pb2, "Models"),
        (classifier_pb2, "Classifier"),
    )
)

# Every method the server answers, as "/package.Service/Method": the request log labels metrics
# with these only, so a client inventing method names cannot grow the label set.
METHODS = frozenset(
    f"/{service.full_name}/{method.name}"
    for pb2, name in ((recognizer_pb2, "Recognizer"), (synthesizer_pb2, "Synthesizer"),
                      (models_pb2, "Models"), (classifier_pb2, "Classifier"),
                      (health_pb2, "Health"),
                      (reflection_pb2, "ServerReflection"))
    for service in (pb2.DESCRIPTOR.services_by_name[name],)
    for method in service.methods
)
INT32_MAX = 2**31 - 1  # gRPC channel arguments are C ints
KIB = 1024
# Room for a request's fields other than its audio or text (config, names): a few hundred bytes
# in practice.
CONFIG_ROOM_BYTES = 4 * KIB
# Messages with nothing but names and enums: health, reflection.
SMALL_MESSAGE_BYTES = 4 * KIB


def receive_limits(config: ServerConfig) -> dict[str, int]:
    """The largest request message each method accepts, checked before it is parsed."""
    return {
        "/voxserve.v1.Models/ListModels": 1 * KIB,
        "/voxserve.v1.Synthesizer/Synthesize": config.max_text_bytes + CONFIG_ROOM_BYTES,
        "/voxserve.v1.Synthesizer/StreamingSynthesize":
            config.max_streaming_text_bytes + CONFIG_ROOM_BYTES,
        # each text piece; the servicer caps the stream's text in all at the same limit
        "/voxserve.v1.Synthesizer/StreamingSynthesizeText":
            config.max_streaming_text_bytes + CONFIG_ROOM_BYTES,
        "/voxserve.v1.Recognizer/Recognize": config.max_audio_bytes + CONFIG_ROOM_BYTES,
        "/voxserve.v1.Recognizer/StreamingRecognize":
            config.max_message_audio_bytes + CONFIG_ROOM_BYTES,
        "/voxserve.v1.Classifier/ClassifyLanguage": config.max_audio_bytes + CONFIG_ROOM_BYTES,
    }


@dataclass
class Server:
    """A bound, not yet started server and the pieces its lifecycle drives."""

    grpc_server: grpc.aio.Server
    port: int
    health: HealthServicer
    state: ServerState
    pool: InferencePool
    config: ServerConfig
    replica: str
    recognition: Admission
    metrics_endpoint: MetricsEndpoint | None = None

    async def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in ("", *SERVICES):
            await self.health.set(service, status)


def _ms(seconds: float) -> int:
    return min(INT32_MAX, round(seconds * 1000))


def channel_options(config: ServerConfig) -> list[tuple[str, int]]:
    options = [
        # The largest message any method takes (a Recognize recording); each method's own, lower
        # limit is checked before parsing (RequestDecoding).
        ("grpc.max_receive_message_length",
         max(SMALL_MESSAGE_BYTES, *receive_limits(config).values())),
        # Ping idle clients every --keepalive-time-s (30 s) and drop them after
        # --keepalive-timeout-s (10 s) without an answer, so dead microphones behind NATs and
        # load balancers free their streams.
        ("grpc.keepalive_time_ms", _ms(config.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", _ms(config.keepalive_timeout_s)),
        ("grpc.keepalive_permit_without_calls", 1),
        # Any unanswered ping (flow control's BDP probes too, which suspend the keepalive
        # timer while outstanding) drops the connection after the keepalive timeout; gRPC's
        # default for these is a minute, whatever keepalive_timeout_ms says.
        ("grpc.http2.ping_timeout_ms", _ms(config.keepalive_timeout_s)),
        # Accept client keepalive pings as often as every 10 s (grpc's default is 5 min, which
        # makes clients with 10-30 s keepalives get GOAWAY too_many_pings).
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        # Refuse to share a port with another process (grpc's default on Linux is to allow it,
        # which hides a second server started by mistake).
        ("grpc.so_reuseport", 0),
    ]
    if config.max_connection_age_s > 0:
        # After --max-connection-age-s (30 min, +-10 % jitter from gRPC) the server sends GOAWAY:
        # clients open a new connection, which a load balancer may place on a newer replica.
        # Calls already open get --max-connection-age-grace-s (default: the longest stream,
        # --max-stream-duration-s) to finish, so no dictation is cut.
        options += [
            ("grpc.max_connection_age_ms", _ms(config.max_connection_age_s)),
            ("grpc.max_connection_age_grace_ms", _ms(config.connection_age_grace_s)),
        ]
    return options


def create_server(config: ServerConfig) -> Server:
    """Build the gRPC server with every service registered and bind it; returns the bound port."""
    credentials = server_credentials(config)
    keys = load_api_keys(config)
    request_log = RequestLog(config.replica_id or f"{socket.gethostname()}:{config.port}", METHODS)
    # Request log outermost, so refusals by authentication are logged and counted too.
    chain: list[grpc.aio.ServerInterceptor] = [request_log]
    if keys is not None:
        chain.append(AuthInterceptor(keys))
        log.info("authentication on: %d API key(s)", len(keys))
    state = ServerState()
    pool = InferencePool(config.workers)
    log.info("%d inference workers of %d ONNX Runtime thread(s) each (%s; %d usable cores)",
             config.workers, config.runtime.intra_op_threads,
             "flags" if config.inference_workers and config.intra_op_threads else "sized",
             config.sizing.cores)
    # Innermost: parsing happens inside the request log, so refusals are logged and counted.
    chain.append(RequestDecoding(receive_limits(config), SMALL_MESSAGE_BYTES))
    grpc_server = grpc.aio.server(options=channel_options(config), interceptors=chain)
    health_servicer = HealthServicer(state.draining)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    recognition = Admission("recognition", config.max_streams)
    synthesis = Admission("synthesis", config.max_synthesis_calls)
    recognizer_pb2_grpc.add_RecognizerServicer_to_server(
        RecognizerServicer(state, pool, config, recognition), grpc_server)
    synthesizer_pb2_grpc.add_SynthesizerServicer_to_server(
        SynthesizerServicer(state, pool, config, synthesis), grpc_server
    )
    models_pb2_grpc.add_ModelsServicer_to_server(ModelsServicer(state), grpc_server)
    # Classification shares recognition's admission cap: both run the recognizers.
    classifier_pb2_grpc.add_ClassifierServicer_to_server(
        ClassifierServicer(state, pool, config, recognition), grpc_server
    )
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), grpc_server
    )
    port = _bind(grpc_server, f"{config.host}:{config.port}", credentials)
    if not config.replica_id and config.port == 0:
        request_log.replica = f"{socket.gethostname()}:{port}"  # the port is known only now
    return Server(grpc_server, port, health_servicer, state, pool, config, request_log.replica,
                  recognition)


def _bind(grpc_server: grpc.aio.Server, address: str,
          credentials: grpc.ServerCredentials | None) -> int:
    try:
        if credentials is None:
            port = grpc_server.add_insecure_port(address)
        else:
            port = grpc_server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpc raises this when the port is taken
        raise OSError(f"could not bind {address}: {exc}") from None
    if port == 0:
        raise OSError(f"could not bind {address}")
    return port


async def start(server: Server) -> None:
    """Start answering (health NOT_SERVING), load the models off the loop, then go SERVING."""
    config = server.config
    metrics.set_draining(False)
    await server.set_serving(False)
    await server.grpc_server.start()
    if config.metrics_port:
        server.metrics_endpoint = metrics.serve_metrics(config.host, config.metrics_port)
        log.info("metrics on http://%s:%d/metrics", config.host, server.metrics_endpoint.port)
    log.info("listening on %s:%d (%s, replica %s); loading models from %s", config.host,
             server.port, "TLS" if config.tls else "plaintext", server.replica, config.models_dir)
    repository = await asyncio.to_thread(
        load_repository, config.models_dir, config.runtime, config.default_recognizer,
        config.default_voice, config.model_variant,
        config.endpointing.detector is Detector.SILERO,
    )
    for model, seconds in repository.load_time_s.items():
        metrics.set_model_load_time(model, seconds)
    server.state.set_repository(repository)
    await server.set_serving(True)
    log.info("serving %d recognizer(s) and %d voice(s)", len(repository.recognizers),
             len(repository.voices))


async def drain(server: Server) -> None:
    """NOT_SERVING at once, refuse new calls, hand live streams over, let open calls finish
    within the grace, stop."""
    grace_s = server.config.grace_s
    log.info("draining (grace %.1f s)", grace_s)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    metrics.set_draining(True)
    await server.set_serving(False)
    server.state.draining.set()  # new calls: UNAVAILABLE (the servicers refuse them)
    await server.health.drained()  # health Watch streams end now, not at the grace's end
    # Live streams are handed over first: each reads on until its open utterance ends (at most
    # half the grace); new connections are refused only once stop() is called.
    try:
        await asyncio.wait_for(server.recognition.wait_idle(), grace_s)
    except TimeoutError:
        log.warning("recognition calls still open at the end of the grace; cutting them")
    await server.grpc_server.stop(max(0.0, deadline - loop.time()))
    # a model call cut off by the grace still runs: let it end before the process exits
    await asyncio.to_thread(server.pool.shutdown, 60.0)
    if server.metrics_endpoint is not None:
        server.metrics_endpoint.close()
    log.info("stopped")


async def serve(config: ServerConfig) -> int:
    """Run until SIGTERM or SIGINT, then drain; returns the process exit code."""
    server = create_server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await start(server)
    except BaseException:
        await server.grpc_server.stop(0)
        if server.metrics_endpoint is not None:
            server.metrics_endpoint.close()
        raise
    await stop.wait()
    await drain(server)
    return 0
