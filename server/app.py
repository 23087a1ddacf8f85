"""The server's life: create (bind), start, load models, serve, drain on a signal, exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from voxserve.server.admission import Admission
from voxserve.server.config import ServerConfig
from voxserve.server.inference import InferencePool
from voxserve.server.repository import load_repository
from voxserve.server.servicers.models import ModelsServicer
from voxserve.server.servicers.recognizer import RecognizerServicer
from voxserve.server.servicers.synthesizer import SynthesizerServicer
from voxserve.server.state import ServerState
from voxserve.v1 import (
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
        (recognizer_pb2, "Recognizer"), (synthesizer_pb2, "Synthesizer"), (models_pb2, "Models")
    )
)


@dataclass
class Server:
    """A bound, not yet started server and the pieces its lifecycle drives."""

    grpc_server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    state: ServerState
    pool: InferencePool
    config: ServerConfig

    async def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for service in ("", *SERVICES):
            await self.health.set(service, status)


def channel_options(config: ServerConfig) -> list[tuple[str, int]]:
    return [
        # Requests may carry whole recordings; anything larger is refused by gRPC itself.
        ("grpc.max_receive_message_length", config.max_receive_message_bytes),
        # Ping idle clients every 30 s and drop them after 10 s without an answer, so dead
        # microphones behind NATs and load balancers free their streams.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # Accept client keepalive pings as often as every 10 s (grpc's default is 5 min, which
        # makes clients with 10-30 s keepalives get GOAWAY too_many_pings).
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def create_server(config: ServerConfig) -> Server:
    """Build the gRPC server with every service registered and bind it; returns the bound port."""
    state = ServerState()
    pool = InferencePool(config.inference_workers)
    grpc_server = grpc.aio.server(options=channel_options(config))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    recognition = Admission("recognition", config.max_streams)
    synthesis = Admission("synthesis", config.max_synthesis_calls)
    recognizer_pb2_grpc.add_RecognizerServicer_to_server(
        RecognizerServicer(state, pool, config, recognition), grpc_server
    )
    synthesizer_pb2_grpc.add_SynthesizerServicer_to_server(
        SynthesizerServicer(state, pool, config, synthesis), grpc_server
    )
    models_pb2_grpc.add_ModelsServicer_to_server(ModelsServicer(state), grpc_server)
    reflection.enable_server_reflection(
        (*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME), grpc_server
    )
    port = grpc_server.add_insecure_port(f"{config.host}:{config.port}")
    if port == 0:
        raise OSError(f"could not bind {config.host}:{config.port}")
    return Server(grpc_server, port, health_servicer, state, pool, config)


async def start(server: Server) -> None:
    """Start answering (health NOT_SERVING), load the models off the loop, then go SERVING."""
    await server.set_serving(False)
    await server.grpc_server.start()
    log.info("listening on %s:%d; loading models from %s", server.config.host, server.port,
             server.config.models_dir)
    config = server.config
    repository = await asyncio.to_thread(
        load_repository, config.models_dir, config.runtime, config.default_recognizer,
        config.default_voice,
    )
    server.state.set_repository(repository)
    await server.set_serving(True)
    log.info("serving %d recognizer(s) and %d voice(s)", len(repository.recognizers),
             len(repository.voices))


async def drain(server: Server) -> None:
    """NOT_SERVING at once, refuse new calls, let open ones finish within the grace, stop."""
    log.info("draining (grace %.1f s)", server.config.grace_s)
    await server.set_serving(False)
    server.state.draining.set()
    await server.grpc_server.stop(server.config.grace_s)
    server.pool.shutdown()
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
        raise
    await stop.wait()
    await drain(server)
    return 0
