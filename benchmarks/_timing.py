"""Shared by the benchmark scripts: wall-time a command several times, take the median."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path


def wall(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_wall(
    cmd: list[str], runs: int, cwd: Path | None = None, env: dict[str, str] | None = None
) -> float:
    return statistics.median(wall(cmd, cwd, env) for _ in range(runs))
