"""`mlopsctl promote --to staging` wall time on the template project, with every gate.

Goal (issue 5): <= 3 s. The project is made by `mlopsctl init --run` (a committed, trained,
pushed model), so all gates run and pass: git state, `dvc status`, `dvc status --cloud`,
metric thresholds, champion/challenger, validation. Between runs the tags are deleted.
Baseline in the same run: `gto register` + `gto assign` on the same commit (the tags alone,
no gates). Also reported: `--dry-run` (gates only). Prints JSON.
Usage: python benchmarks/promote_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _project import IDENTITY, init_project

REPO_ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def drop_tags(project: Path) -> None:
    names = subprocess.run(
        ["git", "tag"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.split()
    if names:
        subprocess.run(["git", "tag", "-d", *names], cwd=project, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    gto = shutil.which("gto") or str(Path(sys.executable).with_name("gto"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(
            os.environ,
            **IDENTITY,
            PYTHONPATH=str(REPO_ROOT),
            XDG_DATA_HOME=str(work / "xdg"),
            NO_COLOR="1",
        )
        mlopsctl = [sys.executable, "-m", "mlopsctl"]
        project = init_project(work, env, "--run")
        promote, dry, baseline = [], [], []
        for _ in range(args.runs):
            dry.append(timed([*mlopsctl, "promote", "--to", "staging", "--dry-run"], project, env))
            promote.append(timed([*mlopsctl, "promote", "--to", "staging"], project, env))
            drop_tags(project)
            # the peer's way to the same two tags, without gates
            baseline.append(
                timed([gto, "register", "demo", "--version", "v0.0.1"], project, env)
                + timed(
                    [gto, "assign", "demo", "--version", "v0.0.1", "--stage", "staging"],
                    project,
                    env,
                )
            )
            drop_tags(project)
    median = statistics.median
    print(
        json.dumps(
            {
                "benchmark": "promote_time",
                "runs": args.runs,
                "promote_seconds_median": round(median(promote), 3),
                "promote_dry_run_seconds_median": round(median(dry), 3),
                "baseline_gto_register_and_assign_seconds_median": round(median(baseline), 3),
                "ratio_promote_to_gto": round(median(promote) / median(baseline), 3),
                "goal": {"promote_seconds_median": "<= 3"},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
