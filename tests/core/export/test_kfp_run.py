"""The exported KFP pipelines really run: compiled by `mlopsctl export kfp`, executed end to
end by the kfp SDK's local runner (SubprocessRunner, no container), on a generated project.
The lifecycle: clone, dvc pull, train with a Hydra override, promote through the gates with
the tags pushed, build the serving image natively. The sweep: clone, dvc pull, one train per
override set in a ParallelFor, nothing promoted. Their metrics equal `mlopsctl train`'s."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_project, git, mlopsctl, run
from tests.image.conftest import CACHE, fake_rootfs

pytestmark = [pytest.mark.slow, pytest.mark.network]

PINNED = "registry.example.com/team/demo-pipeline@sha256:" + "c" * 64
RUNNER = """\
import json, sys
from kfp import local
from kfp.components import load_component_from_file

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
pipeline = load_component_from_file(sys.argv[1])
pipeline(overrides=sys.argv[3], image_repo="")
"""
SWEEP_RUNNER = """\
import json, sys
from kfp import local
from kfp.components import load_component_from_file

local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=sys.argv[2])
sweep = load_component_from_file(sys.argv[1])
sweep(sweep=json.loads(sys.argv[3]))
"""


def executor_outputs(root: Path, task: str) -> dict:
    [path] = root.glob(f"*/{task}/executor_output.json")
    return json.loads(path.read_text())


def export_kfp(project: Path, tmp_path: Path, name: str) -> Path:
    """`mlopsctl export kfp` in the project; a copy of the pipeline file NAME, out of the
    project (the clone sees the commit only)."""
    exported = mlopsctl(
        "export",
        "kfp",
        "--image",
        PINNED,
        "--registry",
        "registry.example.com/team/demo",
        "--remote",
        "default",
        "--git-url",
        str(project),
        cwd=project,
    )
    assert exported.returncode == 0, exported.stderr
    pipeline = tmp_path / name
    pipeline.write_bytes((project / "deploy" / "kfp" / name).read_bytes())
    (project / "deploy" / "kfp").rename(tmp_path / "kept")
    return pipeline


def trained_here(project: Path, where: Path, overrides: str) -> dict:
    """The metrics of `mlopsctl train --no-exp OVERRIDES` on a copy of the project in WHERE."""
    here = copy_project(project, where)
    trained = mlopsctl("train", "--no-exp", "--json", *overrides.split(), cwd=here)
    assert trained.returncode == 0, trained.stderr
    return json.loads(trained.stdout)["metrics"]


def test_the_kfp_pipeline_runs_with_the_metrics_of_mlopsctl_train(
    trained_project: Path, tmp_path: Path
) -> None:
    pytest.importorskip("kfp")
    project = trained_project
    pipeline = export_kfp(project, tmp_path, "pipeline.yaml")

    script = tmp_path / "run_kfp.py"
    script.write_text(RUNNER)
    env = {
        **os.environ,
        "MLOPSCTL_BASE_IMAGE": str(
            fake_rootfs(tmp_path / "rootfs.tar", f"3.{sys.version_info.minor}")
        ),
        "XDG_CACHE_HOME": str(CACHE / "xdg"),
    }
    root = tmp_path / "kfp-root"
    ran = run([sys.executable, str(script), str(pipeline), str(root), "model.C=0.5"], tmp_path, env)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]

    # the same commit, the same override, trained by `mlopsctl train` on this machine
    expected = trained_here(project, tmp_path / "here", "model.C=0.5")
    outputs = executor_outputs(root, "train")
    [metrics] = outputs["artifacts"]["metrics"]["artifacts"]
    assert metrics["metadata"] == expected  # the KFP Metrics artifact the dashboards show
    assert json.loads(outputs["parameterValues"]["Output"]) == expected

    # promoted through the gates, the tags pushed back to the repository it cloned
    promoted = executor_outputs(root, "promote")["parameterValues"]["Output"]
    assert promoted == "demo@v0.0.1"
    tags = git("tag", "--list", cwd=project).stdout.split()
    assert "demo@v0.0.1" in tags and "demo#staging#1" in tags
    message = git("log", "-1", "--format=%s", "demo@v0.0.1^{commit}", cwd=project).stdout.strip()
    assert message == "Train in the pipeline: model.C=0.5"
    # and the serving image of that version, built by the native builder
    digest = executor_outputs(root, "build-serving")["parameterValues"]["Output"]
    assert digest.startswith("sha256:") and len(digest) == 71


def test_the_kfp_sweep_fans_out_one_train_per_override_set(
    trained_project: Path, tmp_path: Path
) -> None:
    pytest.importorskip("kfp")
    project = trained_project
    sweep = export_kfp(project, tmp_path, "sweep.yaml")
    refs = git("for-each-ref", cwd=project).stdout

    script = tmp_path / "run_sweep.py"
    script.write_text(SWEEP_RUNNER)
    # each override set, and the model params it composes into params.yaml
    composed = {
        "model.C=0.5": {"C": 0.5, "max_iter": 1000},
        "model.C=2.0 model.max_iter=500": {"C": 2.0, "max_iter": 500},
    }
    override_sets = list(composed)
    root = tmp_path / "kfp-root"
    ran = run(
        [sys.executable, str(script), str(sweep), str(root), json.dumps(override_sets)], tmp_path
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]

    expected = [
        trained_here(project, tmp_path / f"here-{i}", overrides)
        for i, overrides in enumerate(override_sets)
    ]
    assert expected[0] != expected[1]  # the two runs are told apart by their metrics

    # the local runner runs item i of the loop in <run>/for-loop-N-iteration-i/, each step
    # of it in its own folder there
    loop = "*/for-loop-*-iteration-{}/train/executor_output.json"
    assert len(list(root.glob(loop.format("*")))) == len(override_sets)
    for i, (overrides, metrics_here) in enumerate(zip(override_sets, expected, strict=True)):
        [path] = root.glob(loop.format(i))
        outputs = json.loads(path.read_text())
        [metrics] = outputs["artifacts"]["metrics"]["artifacts"]
        assert metrics["metadata"] == metrics_here, overrides
        assert json.loads(outputs["parameterValues"]["Output"]) == metrics_here, overrides
        # the whole override set reached train: composed into params.yaml, and committed
        [trained] = outputs["artifacts"]["trained"]["artifacts"]
        clone = Path(trained["uri"])
        params = yaml.safe_load((clone / "params.yaml").read_text())["model"]
        assert {key: params[key] for key in ("C", "max_iter")} == composed[overrides]
        message = git("log", "-1", "--format=%s", cwd=clone).stdout.strip()
        assert message == f"Train in the pipeline: {overrides}"

    # nothing promoted or pushed: the repository it cloned has the refs it had
    assert git("for-each-ref", cwd=project).stdout == refs
