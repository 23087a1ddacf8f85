"""Cores: how many CPU cores this process may use, and the worker and thread counts they give.

A container sees every core of its host in os.cpu_count(); what it may use is its affinity mask
(cpusets, taskset) capped by its cgroup's CPU quota (Docker's --cpus, Kubernetes' CPU limit),
rounded up: a quota of 1.5 cores keeps two threads busy half the time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Measured on the 2-core CPU machine, 4 live streams on tiny.en (issue 14): two workers of one
# ORT thread each finished finals sooner and at a third of the CPU of four workers each using
# all cores, whose threads fought for the same cores. So: a worker per core, one thread each,
# and threads inside a worker only once the workers are many enough (MAX_AUTO_WORKERS) that
# more would just wait on the GIL between model calls.
MIN_AUTO_WORKERS = 2  # one model call never blocks every other (a final behind an interim)
MAX_AUTO_WORKERS = 8


@dataclass(frozen=True)
class Sizing:
    """Inference workers and ONNX Runtime threads per operator for a number of cores."""

    cores: int
    inference_workers: int
    intra_op_threads: int


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Cores this process may run on: the affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_quota_cores(cgroup_root)
    return max(1, min(cores, quota) if quota is not None else cores)


def cgroup_quota_cores(root: Path = CGROUP_ROOT) -> int | None:
    """The cgroup's CPU quota in whole cores (rounded up); None when it sets none.

    cgroup v2 holds "QUOTA PERIOD" (or "max PERIOD") in cpu.max; v1 holds
    cpu.cfs_quota_us (-1: none) and cpu.cfs_period_us under cpu/ or cpu,cpuacct/.
    """
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return None if quota == "max" else _cores(quota, period)
    for folder in ("cpu", "cpu,cpuacct"):
        quota_us = _read(root / folder / "cpu.cfs_quota_us")
        period_us = _read(root / folder / "cpu.cfs_period_us")
        if quota_us is not None and period_us is not None:
            return None if quota_us.startswith("-") else _cores(quota_us, period_us)
    return None


def sizing(cores: int) -> Sizing:
    """Workers and threads for `cores` usable cores (see the module constants for why)."""
    if cores < 1:
        raise ValueError("cores must be >= 1")
    workers = min(MAX_AUTO_WORKERS, max(MIN_AUTO_WORKERS, cores))
    return Sizing(cores, workers, max(1, cores // workers))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cores(quota: str, period: str) -> int | None:
    try:
        quota_n, period_n = int(quota), int(period)
    except ValueError:
        return None
    if quota_n <= 0 or period_n <= 0:
        return None
    return max(1, math.ceil(quota_n / period_n))
