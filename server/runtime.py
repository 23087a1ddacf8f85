"""ONNX Runtime sessions: the one place that picks execution providers and thread counts."""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np
import onnxruntime as ort

from voxserve.server.stop import current_stop, stopped

Device = Literal["auto", "cpu", "cuda"]

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class RuntimeOptions:
    """How sessions run: device and thread counts (0 lets ONNX Runtime choose)."""

    device: Device = "auto"
    intra_op_threads: int = 0
    inter_op_threads: int = 1
    # Voices keep their ONNX Runtime CPU arena's memory between runs instead of shrinking it
    # after each (see run): 10-20 % less CPU per sentence, but the process
    # keeps the memory of the longest sentences ever run.
    voice_memory_arena: bool = False

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.intra_op_threads < 0 or self.inter_op_threads < 0:
            raise ValueError("thread counts must be >= 0")


@functools.cache
def cuda_usable() -> bool:
    """True when the CUDA provider is built in *and* a GPU with a driver is present.

    onnxruntime-gpu lists CUDAExecutionProvider even on hosts without a GPU and then logs errors
    at every session start; asking the driver once, silently, keeps CPU hosts quiet.
    """
    if _CUDA not in ort.get_available_providers():
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return _gpu_count() > 0


def _gpu_count() -> int:
    """GPUs the CUDA driver API sees; 0 without a driver."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if libcuda.cuInit(0) != 0 or libcuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def providers_for(device: Device) -> list[str]:
    """Execution providers to request, best first."""
    if device == "cpu":
        return [_CPU]
    if device == "cuda":
        return [_CUDA, _CPU]
    return [_CUDA, _CPU] if cuda_usable() else [_CPU]


def uses_cuda(device: Device) -> bool:
    """Whether sessions created for `device` run on the GPU."""
    return _CUDA in providers_for(device)


def create_session(path: Path, options: RuntimeOptions, spinning: bool = True
                   ) -> ort.InferenceSession:
    """Open one ONNX model; sessions are shared by all requests (ORT's run() is thread-safe).

    Sessions use ORT's CPU memory arena, which keeps the largest run's memory for good: models
    whose inputs vary without bound in size (a voice's sentences) run with `shrink_arena` (see
    run) so that it does not. (Without the arena, measured on a voice: 45-70 % more CPU per
    sentence.)
    `spinning=False` stops the session's intra-op threads from busy-waiting after each run: for
    graphs run in alternation (a voice's encoder and decoder), each pool would otherwise spin
    while the other one works.
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads = options.intra_op_threads
    so.inter_op_num_threads = options.inter_op_threads
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # ORT severities: 0 verbose .. 3 error, 4 fatal
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=so, providers=providers_for(options.device))


_SHRINK_ARENA = "memory.enable_memory_arena_shrinkage"


def run(session: ort.InferenceSession, outputs: list[str] | None, feeds: Mapping[str, object],
        shrink_arena: bool = False) -> list[np.ndarray]:
    """One session run, aborted when the calling job's StopSignal is set (stop.current_stop):
    Cancelled then, within one graph node, instead of at the run's end. (Measured: a Whisper
    encoder window of 0.19 s, signalled 0.02 s into its run, ended at 0.06 s.)

    `shrink_arena` hands the CPU arena's unused regions back to the system after the run (and
    trims the C heap they went back to, release_freed_memory): the run itself reuses the
    arena's memory (the arena's CPU saving); what it grew by goes back when it ends, so memory
    follows the runs in progress, not the largest run ever made.
    Measured on en_US-joe-medium (2 threads, one process, shared 2-core machine), CPU s per
    audio s: 0.051-0.053 arena kept, 0.059-0.060 arena shrunk, 0.074-0.090 no arena; after a
    10 s sentence the arena kept +145 MiB, the shrunk one nothing.
    """
    options = ort.RunOptions()
    if shrink_arena:
        options.add_run_config_entry(_SHRINK_ARENA, "cpu:0")
    try:
        return _run_stoppable(session, outputs, feeds, options)
    finally:
        if shrink_arena:
            release_freed_memory()


def _run_stoppable(session: ort.InferenceSession, outputs: list[str] | None,
                   feeds: Mapping[str, object], options: ort.RunOptions) -> list[np.ndarray]:
    stop = current_stop()
    if stop is None:
        return list(session.run(outputs, dict(feeds), options))
    with stop.on_set(functools.partial(setattr, options, "terminate", True)):
        try:
            return list(session.run(outputs, dict(feeds), options))
        except Exception as exc:  # ORT's own untyped errors; "terminate flag" when stopped
            if stop.is_set():
                raise stopped() from exc
            raise


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return cast(Callable[[int], int], trim)


def release_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc malloc_trim).

    An arena region ORT shrinks away goes back to malloc, and glibc keeps regions under its
    mmap threshold (up to 32 MiB) for reuse. Measured with 4 concurrent 4 KB Synthesize calls
    (2 inference workers): +136 MiB kept after them without this, with it see
    docs/deployment.md ("Synthesis memory").
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def active_provider(session: ort.InferenceSession) -> str:
    """The provider that actually runs the session's nodes first."""
    return session.get_providers()[0]
