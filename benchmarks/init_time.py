"""`mlopsctl init --no-input` wall time end to end, with its split, in temporary folders.

Goal (issue 2): <= 15 s on these machines. Baseline in the same run: the bare steps a user
would otherwise type (`git init`, `dvc init`, writing the data, `dvc add`, `dvc push`,
`git commit`) as separate commands. Prints JSON.
Usage: python benchmarks/init_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import bench_env


def run_init(work: Path, env: dict[str, str], extra: list[str]) -> tuple[float, dict[str, float]]:
    start = time.perf_counter()
    proc = subprocess.run(
        [shutil.which("mlopsctl") or "mlopsctl", "init", "proj", "--no-input", "--json", *extra],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - start, json.loads(proc.stdout)["timings"]


def bare_steps(work: Path, env: dict[str, str]) -> float:
    """What init replaces, typed by hand: git + dvc set-up around the same data file."""
    proj = work / "bare"
    proj.mkdir()
    dvc = [sys.executable, "-m", "dvc"]
    start = time.perf_counter()
    steps = [
        ["git", "init", "-q"],
        [*dvc, "init", "-q"],
        [*dvc, "remote", "add", "-d", "default", str(work / "bare-remote")],
        [
            sys.executable,
            "-c",
            "from sklearn.datasets import load_breast_cancer as l; import os;"
            "os.makedirs('data/raw');l(as_frame=True).frame.to_csv('data/raw/d.csv', index=False)",
        ],
        [*dvc, "add", "-q", "data/raw/d.csv"],
        [*dvc, "push", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "init"],
    ]
    for cmd in steps:
        subprocess.run(cmd, cwd=proj, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    totals, splits, bare, with_run = [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            env = bench_env(work)
            total, split = run_init(work, env, ["--no-hooks"])
            totals.append(total)
            splits.append(split)
            bare.append(bare_steps(work, env))
            (work / "r").mkdir()
            with_run.append(run_init(work / "r", env, ["--no-hooks", "--run"])[0])
    split_median = {k: round(statistics.median(s[k] for s in splits), 3) for k in splits[0]}
    print(
        json.dumps(
            {
                "benchmark": "init_time",
                "runs": args.runs,
                "init_seconds_median": round(statistics.median(totals), 3),
                "init_split_seconds_median": split_median,
                "init_with_run_seconds_median": round(statistics.median(with_run), 3),
                "baseline_bare_git_dvc_steps_seconds_median": round(statistics.median(bare), 3),
                "ratio_init_to_bare_steps": round(
                    statistics.median(totals) / statistics.median(bare), 3
                ),
                "goal": {"init_seconds_median": "<= 15"},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
