"""Synthesis memory on a real server: concurrent long Synthesize calls grow its resident memory
by a bounded amount, which goes back once they are done; texts too long for one response are
refused before any synthesis."""

from __future__ import annotations

import concurrent.futures
import threading
import time
from pathlib import Path

import grpc
import pytest

from tests.serverproc import ServerProcess
from tests.speech import sentences
from voxserve.client.client import text_requests
from voxserve.v1 import synthesizer_pb2, synthesizer_pb2_grpc

MIB = 1024 * 1024
# About the longest text whose LINEAR16 audio (22.05 kHz) fits the default 4 MiB response:
# 1,300 bytes of prose are 80-90 s of speech.
TEXT = " ".join(sentences() * 3)[:1300]
CALLS = 4
# Measured on the shared 2-core machine (test server: 2 inference workers), voices with ORT's CPU
# arena shrunk after each sentence, split into encoder, flow and vocoder (issue 16): this test,
# peak +134 to +157 MiB, +14 to +32 MiB afterwards (with the earlier encoder + decoder split:
# peak +247 to +347 MiB). Without an arena (issue 12): peak +158 MiB, +25 MiB after; four 4 KB
# pages (mu-law, 8 kHz), peak +302 MiB, +20 MiB after. Whole arena kept: four pages grew the
# server by 457 MiB, never returned. The bound is issue 12's goal.
PEAK_GROWTH_BOUND_BYTES = 300 * MIB
LEFT_AFTER_BOUND_BYTES = 64 * MIB


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc status")


class PeakRss:
    """Samples a process's resident memory every 20 ms on a thread; `peak` is the highest."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_bytes(self._pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_concurrent_long_synthesis_memory_is_bounded_and_returned(
    server: ServerProcess,
) -> None:
    pid = server.process.pid
    request = synthesizer_pb2.SynthesizeRequest(text=TEXT)
    with grpc.insecure_channel(server.target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        stub.Synthesize(synthesizer_pb2.SynthesizeRequest(text="Warm up."), timeout=60)
        baseline = rss_bytes(pid)
        with PeakRss(pid) as rss, concurrent.futures.ThreadPoolExecutor(CALLS) as pool:
            responses = list(pool.map(lambda _: stub.Synthesize(request, timeout=600),
                                      range(CALLS)))
        time.sleep(0.5)
        after = rss_bytes(pid)
    assert all(r.audio_duration_ms > 60_000 for r in responses)
    growth, left = rss.peak - baseline, after - baseline
    print(f"RSS: baseline {baseline / MIB:.0f} MiB, peak +{growth / MIB:.0f} MiB,"
          f" after +{left / MIB:.0f} MiB")
    assert growth < PEAK_GROWTH_BOUND_BYTES
    assert left < LEFT_AFTER_BOUND_BYTES


def test_text_too_long_for_one_response_is_refused_before_synthesis(
    server: ServerProcess,
) -> None:
    text = " ".join(sentences() * 8)[:4000]  # within --max-text-bytes, minutes of speech
    with grpc.insecure_channel(server.target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Synthesize(synthesizer_pb2.SynthesizeRequest(text=text), timeout=60)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = caught.value.details()
    assert details.startswith("synthesized audio would be at least ")
    assert details.endswith("(--max-synthesis-bytes): use StreamingSynthesize for long texts")


# Short sentences: every unit of the stream is a small run, which keeps what it grew the arena
# by (server/tts/vits.py, KEPT_ARENA_FRAMES): about 50 MiB per run in progress, 2 at a time on
# the test server. Measured after a round: +97 to +129 MiB (alone and in the whole suite, where
# the shared server has served other tests first). A later round may add what an earlier one
# did not overlap enough to need (+4 to +32 MiB measured), never more than the runs in progress
# can hold: so every round, the third included, stays under one bound.
SHORT_SENTENCES = [" ".join(s.split()[:4]).rstrip(",.;:") + ". " for s in sentences()] * 2
STREAMS = 4
STREAM_LEFT_AFTER_BOUND_BYTES = 160 * MIB
ROUNDS = 3


def test_concurrent_text_streams_keep_a_bounded_arena(server: ServerProcess) -> None:
    pid = server.process.pid
    with grpc.insecure_channel(server.target) as channel:
        stub = synthesizer_pb2_grpc.SynthesizerStub(channel)
        stub.Synthesize(synthesizer_pb2.SynthesizeRequest(text="Warm up."), timeout=60)
        baseline = rss_bytes(pid)

        def speak(_: int) -> int:
            responses = stub.StreamingSynthesizeText(
                text_requests(None, SHORT_SENTENCES), timeout=600)
            return sum(len(r.audio_content) for r in responses)

        afters = []
        for _ in range(ROUNDS):  # later rounds reuse what the first kept
            with PeakRss(pid) as rss, concurrent.futures.ThreadPoolExecutor(STREAMS) as pool:
                sizes = list(pool.map(speak, range(STREAMS)))
            assert all(size > 0 for size in sizes)
            time.sleep(0.5)
            afters.append(rss_bytes(pid) - baseline)
    print(f"RSS: baseline {baseline / MIB:.0f} MiB, peak +{(rss.peak - baseline) / MIB:.0f} MiB,"
          f" after each round: {', '.join(f'+{a / MIB:.0f}' for a in afters)} MiB")
    assert rss.peak - baseline < PEAK_GROWTH_BOUND_BYTES
    assert max(afters) < STREAM_LEFT_AFTER_BOUND_BYTES
