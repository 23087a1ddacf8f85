"""Bench reports: the machine header, summary statistics and Markdown tables that runs print."""

from __future__ import annotations

import json
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def machine() -> str:
    """One line naming the CPU, its cores and how busy it was when the run started."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load} at start"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between samples."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def ratio(ours: float, theirs: float) -> str:
    """voxserve / peer, as printed in the tables: below 1.00 means voxserve takes less time."""
    return f"{ours / theirs:.2f}" if theirs > 0 else "n/a"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table with columns padded to line up in a terminal too."""
    cells = [[str(h) for h in headers]] + [[_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def require_model(folder: Path) -> None:
    """Stop with a clear message when a model folder has not been exported yet."""
    if not (folder / "manifest.json").is_file():
        raise SystemExit(f"{folder}/manifest.json is missing: run `make models` first")


def save_json(path: Path | None, results: dict[str, Any]) -> None:
    """Raw figures for later comparison (bench/results/ is git-ignored)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nraw results written to {path}")
