"""CpuMeter: CPU time of another process (the server) over a stretch of wall-clock time."""

from __future__ import annotations

import os
import time
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far, all its threads (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which is in parentheses and may itself contain spaces;
    # utime and stime are fields 14 and 15 of proc(5), i.e. 11 and 12 after the name.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


class CpuMeter:
    """Started at construction; `percent()` is CPU time / wall time x 100 (200 = two cores)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._cpu_s = cpu_seconds(pid)
        self._wall_s = time.perf_counter()

    def percent(self) -> float:
        wall_s = time.perf_counter() - self._wall_s
        return 100.0 * (cpu_seconds(self._pid) - self._cpu_s) / wall_s if wall_s > 0 else 0.0
