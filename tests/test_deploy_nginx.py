"""Three real replicas behind a real nginx running deploy/nginx.conf: spread, drain, failover.

nginx runs as a subprocess with the shipped config, changed only where a test must: replica
addresses, a free port, one worker, files under tmp. The tests run in file order on one set of
replicas; the later ones stop replicas.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from tests.serverproc import ServerProcess, free_port
from tests.speech import RATE_HZ, espeak
from tests.wer import normalise
from voxserve.client.client import VoxClient
from voxserve.client.resume import ResumingRecognizer
from voxserve.client.streaming import StreamingRecognizer, StreamSettings
from voxserve.v1 import recognizer_pb2, synthesizer_pb2, synthesizer_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
NGINX_CONF = REPO / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REPLICA_KEY = "x-voxserve-replica"
# Five sentences: a synthesis stream that lasts a few seconds on a CPU, sentence by sentence.
SENTENCES = 5
LONG_TEXT = " ".join(f"This is sentence number {n} of the answer." for n in range(SENTENCES))
# Sentences Whisper tiny.en transcribes word for word from espeak-ng's voice.
DICTATION = ("Please call me back when you get this message.",
             "Our meeting has been moved to Thursday afternoon.",
             "Turn left at the next corner and drive straight ahead.")
GAP_S = 1.0  # silence after each sentence: ends its utterance (the server's default is 0.5 s)
CHUNK_BYTES = 3200  # 100 ms of 16 kHz LINEAR16


def render_nginx_conf(text: str, port: int, replicas: list[str], folder: Path) -> str:
    """The shipped config with this test's replicas, port and files."""
    servers = "".join(f"        server {r} max_fails=1 fail_timeout=10s;\n" for r in replicas)
    text, count = re.subn(r"(?m)^ *server \S+:50051 [^\n]*;\n", "", text)
    assert count == 3, "deploy/nginx.conf should list three example replicas"
    text = text.replace("        least_conn;\n", "        least_conn;\n" + servers)
    temp = "".join(f"    {kind}_temp_path {folder / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    replacements = {
        "worker_processes auto;": "worker_processes 1;",
        "error_log /var/log/nginx/error.log notice;": f"error_log {folder / 'error.log'} info;",
        "pid /var/run/nginx.pid;": f"pid {folder / 'nginx.pid'};",
        "access_log /var/log/nginx/access.log;": f"access_log {folder / 'access.log'};\n{temp}",
        "listen 8080 http2;": f"listen 127.0.0.1:{port} http2;",
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf lacks {old!r}"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx as a foreground subprocess on 127.0.0.1 and a free port."""

    def __init__(self, folder: Path, replicas: list[str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.target = f"127.0.0.1:{self.port}"
        self.conf = folder / "nginx.conf"
        self.conf.write_text(render_nginx_conf(NGINX_CONF.read_text(), self.port, replicas, folder))
        check = subprocess.run(self._command("-t"), capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        self._wait_listening()

    def _command(self, *extra: str) -> list[str]:
        return [NGINX, "-p", str(self.folder), "-e", str(self.folder / "error.log"),
                "-c", str(self.conf), "-g", "daemon off;", *extra]

    def _wait_listening(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.error_log()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"nginx not listening:\n{self.error_log()}")

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Cluster:
    """Three replicas (each with its metrics port) and the nginx in front of them."""

    def __init__(self, replicas: list[ServerProcess], metrics_ports: list[int],
                 nginx: Nginx) -> None:
        self.replicas = {f"replica-{i}": proc for i, proc in enumerate(replicas)}
        self.metrics_ports = {f"replica-{i}": port for i, port in enumerate(metrics_ports)}
        self.nginx = nginx

    def live_streams(self, name: str) -> float:
        """StreamingRecognize calls open on a replica, from its metrics endpoint."""
        url = f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        pattern = (r'voxserve_active_rpcs\{method="StreamingRecognize",'
                   r'service="voxserve.v1.Recognizer"\} (\S+)')
        found = re.search(pattern, text)
        return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def cluster(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    metrics_ports = [free_port() for _ in range(3)]
    replicas = [ServerProcess(models_dir, "--replica-id", f"replica-{i}", "--grace-s", "20",
                              "--metrics-port", str(metrics_ports[i]))
                for i in range(3)]
    try:
        for proc in replicas:
            proc.wait_serving(timeout_s=180)
        nginx = Nginx(tmp_path_factory.mktemp("nginx"), [proc.target for proc in replicas])
        try:
            yield Cluster(replicas, metrics_ports, nginx)
        finally:
            nginx.stop()
    finally:
        for proc in replicas:
            proc.__exit__(None, None, None)


def synthesize_via(target: str) -> str:
    """One Synthesize call; the replica that answered."""
    with grpc.insecure_channel(target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        response, call = stub.Synthesize.with_call(
            synthesizer_pb2.SynthesizeRequest(text="Which replica am I on?"), timeout=60)
    # 16-bit samples at the stated rate: the stated duration is the audio's own
    assert response.audio_duration_ms == round(
        500 * len(response.audio_content) / response.sample_rate_hz)
    return dict(call.initial_metadata())[REPLICA_KEY]


def test_calls_spread_over_the_replicas(cluster: Cluster) -> None:
    answered = collections.Counter(synthesize_via(cluster.nginx.target) for _ in range(6))
    # One nginx worker, calls one after another: least_conn ties fall back to round robin.
    assert sorted(answered) == sorted(cluster.replicas)
    assert sorted(answered.values()) == [2, 2, 2]


def test_streams_spread_over_the_replicas(cluster: Cluster) -> None:
    with grpc.insecure_channel(cluster.nginx.target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        request = synthesizer_pb2.StreamingSynthesizeRequest(text=LONG_TEXT)
        streams = [stub.StreamingSynthesize(request, timeout=120) for _ in range(3)]
        # Three streams open at once: least_conn puts each on a different replica.
        replicas = {dict(stream.initial_metadata())[REPLICA_KEY] for stream in streams}
        counts = [len(list(stream)) for stream in streams]
    assert replicas == set(cluster.replicas)
    assert counts == [SENTENCES] * 3


def dictation() -> tuple[bytes, list[float]]:
    """The sentences as 16 kHz LINEAR16 with a gap after each; and where each one starts (s)."""
    parts, starts, at_s = [], [], 0.5
    parts.append(np.zeros(int(0.5 * RATE_HZ), dtype=np.float32))
    for text in DICTATION:
        speech = espeak(text)
        starts.append(at_s)
        parts += [speech, np.zeros(int(GAP_S * RATE_HZ), dtype=np.float32)]
        at_s += len(speech) / RATE_HZ + GAP_S
    samples = np.concatenate(parts)
    return (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes(), starts


def finals(responses: list[recognizer_pb2.StreamingRecognizeResponse]
           ) -> list[recognizer_pb2.StreamingRecognitionResult]:
    return [r.result for r in responses if r.HasField("result") and r.result.is_final]


def test_recognition_streams_spread_over_the_replicas(cluster: Cluster) -> None:
    audio, starts = dictation()
    first_sentence = audio[: int(starts[1] * RATE_HZ) * 2]
    with VoxClient(cluster.nginx.target) as client:
        streams = [StreamingRecognizer(client.recognizer, StreamSettings(), timeout_s=120)
                   for _ in range(3)]
        for stream in streams:
            stream.send(first_sentence)
        # All three open at once: least_conn gives each its own replica.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if [cluster.live_streams(name) for name in sorted(cluster.replicas)] == [1, 1, 1]:
                break
            time.sleep(0.1)
        spread = [cluster.live_streams(name) for name in sorted(cluster.replicas)]
        for stream in streams:
            stream.close()
        texts = [" ".join(r.transcript for r in finals(list(stream))) for stream in streams]
    assert spread == [1, 1, 1]
    assert [normalise(text) for text in texts] == [normalise(DICTATION[0])] * 3


def test_sigterm_hands_dictation_over_and_new_calls_go_elsewhere(cluster: Cluster) -> None:
    """SIGTERM mid-sentence: the victim hears the sentence to its end, sends its final and ends
    the stream UNAVAILABLE; the resuming client carries on through nginx on another replica.
    A synthesis stream open on the victim runs to its end."""
    audio, starts = dictation()
    chunks = [audio[at : at + CHUNK_BYTES] for at in range(0, len(audio), CHUNK_BYTES)]
    term_at = int((starts[1] + 1.0) * RATE_HZ * 2) // CHUNK_BYTES  # mid second sentence
    with VoxClient(cluster.nginx.target) as client:
        stream = ResumingRecognizer(client, StreamSettings(), timeout_s=180)
        heard: list[recognizer_pb2.StreamingRecognizeResponse] = []
        reader = threading.Thread(target=lambda: heard.extend(stream))
        reader.start()
        for chunk in chunks[:term_at]:
            stream.send(chunk)
        victim = _serving_the_stream(cluster)
        deadline = time.monotonic() + 60
        while not finals(heard) and time.monotonic() < deadline:
            time.sleep(0.05)  # the first sentence is final on the victim, the second open
        with VoxClient(cluster.replicas[victim].target) as direct:
            synthesis = direct.synthesizer.StreamingSynthesize(
                synthesizer_pb2.StreamingSynthesizeRequest(text=LONG_TEXT), timeout=120)
            first = next(synthesis)
            cluster.replicas[victim].process.send_signal(signal.SIGTERM)
            for chunk in chunks[term_at:]:  # the speaker goes on; the stream is not closed
                stream.send(chunk)
            rest = list(synthesis)  # the open stream runs to its end on the draining replica
        stream.close()
        reader.join(timeout=120)
        answered = [synthesize_via(cluster.nginx.target) for _ in range(4)]
    assert stream.resumes == 1
    results = finals(heard)
    # No final lost or repeated; offsets and indexes continue across the two replicas.
    assert [normalise(r.transcript) for r in results] == [normalise(t) for t in DICTATION]
    assert [r.utterance_index for r in results] == [0, 1, 2]
    for result, start_s in zip(results, starts, strict=True):
        assert abs(result.start_offset_ms / 1000 - start_s) < 0.4
    assert [first.sentence_index] + [r.sentence_index for r in rest] == list(range(SENTENCES))
    assert synthesis.code() == grpc.StatusCode.OK
    assert victim not in answered and set(answered) <= set(cluster.replicas)
    assert cluster.replicas[victim].process.wait(timeout=30) == 0
    output = cluster.replicas[victim].output()
    assert "draining" in output and "stopped" in output
    # The victim ended the stream UNAVAILABLE (handed over), not OK: the client went on.
    assert '"method": "StreamingRecognize", "code": "UNAVAILABLE"' in output


def test_sigkill_mid_stream_resumes_on_another_replica(cluster: Cluster) -> None:
    audio, starts = dictation()
    chunks = [audio[at : at + CHUNK_BYTES] for at in range(0, len(audio), CHUNK_BYTES)]
    # Kill the replica halfway through the second sentence.
    kill_at = int((starts[1] + 1.0) * RATE_HZ * 2) // CHUNK_BYTES
    with VoxClient(cluster.nginx.target) as client:
        stream = ResumingRecognizer(client, StreamSettings(), timeout_s=180)
        responses: list[recognizer_pb2.StreamingRecognizeResponse] = []
        reader = threading.Thread(target=lambda: responses.extend(stream))
        reader.start()
        for chunk in chunks[:kill_at]:
            stream.send(chunk)
        victim = _serving_the_stream(cluster)
        deadline = time.monotonic() + 60
        while not finals(responses) and time.monotonic() < deadline:
            time.sleep(0.05)  # the first sentence is final on the victim
        cluster.replicas[victim].process.send_signal(signal.SIGKILL)
        for chunk in chunks[kill_at:]:
            stream.send(chunk)
        stream.close()
        reader.join(timeout=120)
    assert stream.resumes == 1
    results = finals(responses)
    assert [normalise(r.transcript) for r in results] == [normalise(t) for t in DICTATION]
    assert [r.utterance_index for r in results] == [0, 1, 2]
    # Offsets stay those of the whole stream: each final starts where its sentence does.
    for result, start_s in zip(results, starts, strict=True):
        assert abs(result.start_offset_ms / 1000 - start_s) < 0.4
        assert result.end_offset_ms > result.start_offset_ms


def _serving_the_stream(cluster: Cluster) -> str:
    """The live replica with one StreamingRecognize call open."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = [name for name, proc in cluster.replicas.items()
                if proc.process.poll() is None and cluster.live_streams(name) == 1]
        if len(busy) == 1:
            return busy[0]
        time.sleep(0.05)
    raise AssertionError("no replica holds the stream")
