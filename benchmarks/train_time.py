"""`mlopsctl train` against its baselines, measured in one run on fresh template projects.

- no-op: `mlopsctl train` with nothing changed vs `dvc repro` with nothing changed.
  Goal (issue 3): <= 1.2x.
- first run: `mlopsctl train` (an experiment, `dvc exp run`) and `mlopsctl train --no-exp`
  (`dvc repro`) on a fresh project vs running every stage's command from dvc.yaml directly,
  in dvc.yaml's order (validate and profile included).
  Goal: <= 1.3x.
Prints JSON. Usage: python benchmarks/train_time.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _project import bench_env, init_project
from _timing import median_wall, wall

MLOPSCTL = [sys.executable, "-m", "mlopsctl"]
DVC = [sys.executable, "-m", "dvc"]


def stage_commands(project: Path) -> list[str]:
    """dvc.yaml's stage commands in its order, with `${params}` filled in from params.yaml as
    DVC fills them in."""
    import re

    import yaml

    from mlopsctl.core.config import flatten

    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    params = flatten(yaml.safe_load((project / "params.yaml").read_text()))
    return [
        re.sub(r"\$\{([^}]+)\}", lambda m: str(params[m[1]]), " ".join(str(stage["cmd"]).split()))
        for stage in stages.values()
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = bench_env(work)
        fresh = init_project(work, env, name="fresh")

        first: dict[str, list[float]] = {
            "scripts": [],
            "dvc_repro": [],
            "train_no_exp": [],
            "train_exp": [],
        }
        for i in range(args.runs):
            for kind in first:
                proj = work / f"{kind}-{i}"
                shutil.copytree(fresh, proj, symlinks=True)
                if kind == "scripts":
                    # every command dvc.yaml lists, in its order, as DVC would run them
                    cmds = [["sh", "-c", cmd] for cmd in stage_commands(proj)]
                    first[kind].append(sum(wall(c, proj, env) for c in cmds))
                else:
                    extra = ["--no-exp"] if kind == "train_no_exp" else []
                    first[kind].append(wall([*MLOPSCTL, "train", *extra], proj, env))

        noop_project = work / "train_no_exp-0"  # trained above, nothing changed since
        runs = max(5, args.runs * 3)
        median_wall([*DVC, "repro"], 1, noop_project, env)  # warm caches for both
        dvc_noop = median_wall([*DVC, "repro"], runs, noop_project, env)
        ours_noop = median_wall([*MLOPSCTL, "train"], runs, noop_project, env)

    med = {k: statistics.median(v) for k, v in first.items()}
    print(
        json.dumps(
            {
                "benchmark": "train_time",
                "runs": args.runs,
                "noop_seconds": {
                    "dvc_repro": round(dvc_noop, 3),
                    "mlopsctl_train": round(ours_noop, 3),
                },
                "noop_ratio_to_dvc_repro": round(ours_noop / dvc_noop, 3),
                "first_run_seconds": {k: round(v, 3) for k, v in med.items()},
                "first_run_ratio_to_scripts": {
                    k: round(med[k] / med["scripts"], 3)
                    for k in ("dvc_repro", "train_no_exp", "train_exp")
                },
                "first_run_ratio_to_dvc_repro": {
                    k: round(med[k] / med["dvc_repro"], 3) for k in ("train_no_exp", "train_exp")
                },
                "goal": {
                    "noop_ratio_to_dvc_repro": "<= 1.2",
                    "first_run_ratio_to_scripts": "<= 1.3",
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
