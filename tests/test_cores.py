"""Defaults sized from the cores: the cgroup quota, the affinity mask, workers and threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voxserve.server.config import ServerConfig
from voxserve.server.cores import cgroup_quota_cores, sizing, usable_cores


def _cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "cores"),
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "200000 100000"}, 2),
        ({"cpu.max": "150000 100000"}, 2),  # 1.5 cores keep two threads busy half the time
        ({"cpu.max": "50000 100000"}, 1),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "400000",
          "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 4),
        ({}, None),
    ],
)
def test_cgroup_quota(tmp_path: Path, files: dict[str, str], cores: int | None) -> None:
    assert cgroup_quota_cores(_cgroup(tmp_path, files)) == cores


def test_usable_cores_is_the_affinity_mask_capped_by_the_quota(tmp_path: Path) -> None:
    mask = len(os.sched_getaffinity(0))
    assert usable_cores(_cgroup(tmp_path / "none", {})) == mask
    assert usable_cores(_cgroup(tmp_path / "one", {"cpu.max": "100000 100000"})) == 1
    assert usable_cores(_cgroup(tmp_path / "many", {"cpu.max": "6400000 100000"})) == mask


@pytest.mark.parametrize(
    ("cores", "workers", "threads"),
    [(1, 2, 1), (2, 2, 1), (4, 4, 1), (8, 8, 1), (16, 8, 2), (64, 8, 8)],
)
def test_defaults_follow_the_core_count(cores: int, workers: int, threads: int) -> None:
    sized = sizing(cores)
    assert (sized.inference_workers, sized.intra_op_threads) == (workers, threads)


def test_config_sizes_unset_counts_and_keeps_set_ones() -> None:
    expected = sizing(usable_cores())
    config = ServerConfig()
    assert (config.workers, config.runtime.intra_op_threads) == (
        expected.inference_workers, expected.intra_op_threads)
    flagged = ServerConfig(inference_workers=3, intra_op_threads=5)
    assert (flagged.workers, flagged.runtime.intra_op_threads) == (3, 5)
    with pytest.raises(ValueError, match="inference_workers"):
        ServerConfig(inference_workers=-1)
