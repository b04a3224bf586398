"""`mlopsctl update` wall time on the template project, with plain `copier update` (the same
three-way update, by hand) as the baseline measured in the same run.

Goal (issue 15): `mlopsctl update` <= 5 s, copier's import included. Each run takes a fresh
copy of a project made from template v0.1.0 (this checkout's template) with a user edit,
and updates it to v0.2.0 (a changed copy, tagged later in a history made here). Prints JSON.
Usage: python benchmarks/update_time.py [--runs N]
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
from pathlib import Path

from _project import bench_env, init_project, mlopsctl
from _timing import wall_and_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.template_versions import history_env, make_history


def fresh_copy(made: Path, where: Path) -> Path:
    project = where / "demo"
    shutil.copytree(made, project, symlinks=True)
    return project


def load() -> float:
    return round(os.getloadavg()[0], 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {**bench_env(work), **history_env(make_history(work / "history"), work / "xdg")}
        made = init_project(work, env)
        config = made / "conf" / "config.yaml"
        config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
        subprocess.run(
            ["git", "commit", "-qam", "my seed", "--no-verify"], cwd=made, env=env, check=True
        )
        ours: list[tuple[float, float]] = []
        copier: list[tuple[float, float]] = []
        load_before = load()
        copier_cmd = [sys.executable, "-m", "copier", "update", "--defaults", "--trust"]
        for i in range(args.runs):
            project = fresh_copy(made, work / f"ours-{i}")
            ours.append(wall_and_cpu([*mlopsctl(), "update", "--to", "0.2.0"], project, env))
            project = fresh_copy(made, work / f"copier-{i}")
            copier.append(wall_and_cpu([*copier_cmd, "--vcs-ref", "v0.2.0"], project, env))
        update_s = statistics.median(w for w, _ in ours)
        copier_s = statistics.median(w for w, _ in copier)
        update_cpu = statistics.median(c for _, c in ours)
        copier_cpu = statistics.median(c for _, c in copier)
        print(
            json.dumps(
                {
                    "benchmark": "update_time",
                    "runs": args.runs,
                    "mlopsctl_update_s": round(update_s, 2),
                    "copier_update_s": round(copier_s, 2),
                    "ratio_to_copier": round(update_s / copier_s, 2),
                    "mlopsctl_update_cpu_s": round(update_cpu, 2),
                    "copier_update_cpu_s": round(copier_cpu, 2),
                    "cpu_ratio_to_copier": round(update_cpu / copier_cpu, 2),
                    "load_average": [load_before, load()],
                    "goal_s": 5.0,
                    "within_goal": update_s <= 5.0,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
