"""`mlopsctl export tekton` and `export kfp` on the template project, and the exported KFP
pipeline's local run against `mlopsctl train` on the same project, measured in one run.

- export: wall and CPU time of `export tekton` and `export kfp` (kfp's import included),
  against `mlopsctl --help` (the CLI's start). Goal (issue 13): <= 1 s each.
- kfp local run: the compiled lifecycle (clone, dvc pull, train with an override, promote;
  build_image=False, as the serving build is measured by the build benchmarks) run by
  kfp.local's SubprocessRunner, against `mlopsctl train --no-exp` with the same override on
  a copy of the same commit. Goal: <= 2x.
- with --against DIR (a checkout of another revision, e.g. `git worktree add DIR main`): both
  exports of this checkout and of DIR's code (PYTHONPATH=DIR, the same interpreter and
  packages) in alternating rounds, so a before/after shares the machine's load; and whether
  their files are byte-identical.
Prints JSON. Usage: python benchmarks/export_time.py [--runs N] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _project import bench_env, init_project, mlopsctl
from _timing import median_wall, wall, wall_and_cpu

ENGINES = ("tekton", "kfp")


def median_cpu(cmd: list[str], runs: int, cwd: Path, env: dict[str, str]) -> float:
    """CPU seconds (user + system) of a command: on a shared, loaded machine the wall time
    mostly measures the other tenants."""
    import resource
    import statistics
    import subprocess

    spent = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(spent)


def interleaved_exports(
    against: Path, common: list[str], work: Path, project: Path, env: dict[str, str], runs: int
) -> dict[str, object]:
    """Median wall and CPU time of each export with this checkout's code and with `against`'s,
    the four commands in alternating rounds; and whether the two wrote the same bytes (into
    the same folder: the Tekton files name it)."""
    import statistics

    trees = {"this": Path(__file__).resolve().parents[1], "against": against.resolve()}
    spent: dict[tuple[str, str], list[tuple[float, float]]] = {
        (tree, engine): [] for tree in trees for engine in ENGINES
    }
    written: dict[tuple[str, str], dict[str, bytes]] = {}
    for _ in range(runs):
        for (tree, engine), times in spent.items():
            out = work / f"interleaved-{engine}"
            cmd = [*mlopsctl(), "export", engine, *common, "--out", str(out)]
            times.append(wall_and_cpu(cmd, project, dict(env, PYTHONPATH=str(trees[tree]))))
            written[(tree, engine)] = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    figures: dict[str, object] = {"against": str(trees["against"])}
    for engine in ENGINES:
        for i, unit in enumerate(("s", "cpu_s")):
            figures[f"export_{engine}_{unit}"] = {
                tree: statistics.median(t[i] for t in spent[(tree, engine)]) for tree in trees
            }
        figures[f"same_{engine}_files"] = written[("this", engine)] == written[("against", engine)]
    return figures


PINNED = "registry.example.com/team/demo-pipeline@sha256:" + "0" * 64
RUNNER = """\
import sys
from kfp import local
from kfp.components import load_component_from_file

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
load_component_from_file(sys.argv[1])(overrides=sys.argv[3], image_repo="", build_image=False)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--against", type=Path, help="a checkout to compare the exports with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = bench_env(work)
        project = init_project(work, env, "--run")
        common = ["--image", PINNED, "--registry", "registry.example.com/team/demo"]
        common += ["--remote", "default", "--git-url", str(project), "--force"]
        help_cmd = [*mlopsctl(), "--help"]
        figures: dict[str, object] = {
            "help_s": median_wall(help_cmd, args.runs, project, env),
            "help_cpu_s": median_cpu(help_cmd, args.runs, project, env),
        }
        for engine in ENGINES:
            cmd = [*mlopsctl(), "export", engine, *common, "--out", str(work / engine)]
            figures[f"export_{engine}_s"] = median_wall(cmd, args.runs, project, env)
            figures[f"export_{engine}_cpu_s"] = median_cpu(cmd, args.runs, project, env)
        if args.against:
            figures["interleaved"] = interleaved_exports(
                args.against, common, work, project, env, args.runs
            )

        script = work / "run_kfp.py"
        script.write_text(RUNNER)
        runs, trains = [], []
        for i in range(args.runs):
            # a fresh copy each time: the run pushes tags back into the project it clones
            origin = work / f"origin-{i}"
            shutil.copytree(project, origin, symlinks=True)
            exported = [*mlopsctl(), "export", "kfp", *common[:-3], "--git-url", str(origin)]
            wall([*exported, "--out", str(work / f"kfp-{i}")], origin, env)
            pipeline = work / f"kfp-{i}" / "pipeline.yaml"
            override = f"model.C={0.5 + i / 10}"
            cmd = [sys.executable, str(script), str(pipeline), str(work / f"root-{i}"), override]
            runs.append(wall(cmd, work, env))
            here = work / f"here-{i}"
            shutil.copytree(project, here, symlinks=True)
            trains.append(wall([*mlopsctl(), "train", "--no-exp", override], here, env))
        import statistics

        figures["kfp_local_run_s"] = statistics.median(runs)
        figures["train_no_exp_s"] = statistics.median(trains)
        figures["kfp_run_vs_train"] = round(
            figures["kfp_local_run_s"] / figures["train_no_exp_s"],
            2,  # type: ignore[operator]
        )
        figures["goals"] = {"export_s": 1.0, "kfp_run_vs_train": 2.0}
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
