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


def interleaved_medians(
    commands: dict[str, list[str]],
    runs: int,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """Median wall time of each command, run in alternating rounds (A B C, A B C, ...) so
    that the machine's drift over the run hits every command alike."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, cmd in commands.items():
            times[name].append(wall(cmd, cwd, env))
    return {name: statistics.median(values) for name, values in times.items()}


def run_measured(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, int]:
    """Wall seconds and peak resident memory (bytes) of one command, which must succeed."""
    import os

    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=proc.stderr.read())
    return seconds, usage.ru_maxrss * 1024
