"""`mlopsctl build --kind pipeline` on a real Debian base with git, and the exported Tekton
pipeline's steps really run in it: each Task's script, in runAfter order with params
substituted, under podman as an arbitrary UID in group 0 with bind-mounted workspaces. Same
model version and metrics as `mlopsctl train` on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from mlopsctl.core.dvcrepo import read_dvc_remotes
from tests.conftest import copy_project, git, mlopsctl, run
from tests.core.export.tekton_runner import run_pipeline
from tests.image.conftest import CACHE, fake_rootfs, made_once
from tests.image.registry import Registry, registry, skopeo_digest  # noqa: F401
from tests.image.test_e2e import MMDEBSTRAP, container_env, debian_base, podman  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.image]


@pytest.fixture(scope="session")
def git_base(container_env: dict[str, str]) -> Path:  # noqa: F811
    """Debian bookworm with Python and git (the pipeline image's base), made once a month."""
    command = [a.replace("ca-certificates", "ca-certificates,git") for a in MMDEBSTRAP]
    env = {**container_env, "SOURCE_DATE_EPOCH": "1700000000"}
    return made_once(
        CACHE / f"base-bookworm-python3-git-{date.today():%Y%m}.tar",
        lambda part: run([*command, str(part)], CACHE, env=env, check=True),
    )


def writable(*paths: Path) -> None:
    """The container's arbitrary UID writes into these host folders (as into a PVC)."""
    for path in paths:
        subprocess.run(["chmod", "-R", "a+rwX", str(path)], check=True)


def test_tekton_steps_run_in_the_pipeline_image(
    trained_project: Path,
    git_base: Path,
    debian_base: Path,  # noqa: F811
    container_env: dict[str, str],  # noqa: F811
    registry: Registry,  # noqa: F811
    tmp_path: Path,
) -> None:
    project = trained_project
    pushed_to = f"{registry.host}/team/demo-pipeline"
    built = mlopsctl(
        "build",
        "--kind",
        "pipeline",
        "--base",
        str(git_base),
        "--serving-base",
        str(debian_base),
        "--push",
        pushed_to,
        "--tls-verify=false",
        "--json",
        cwd=project,
        env=container_env,
    )
    assert built.returncode == 0, built.stderr
    info = json.loads(built.stdout)
    lock = json.loads((project / "dist" / "pipeline-image.lock.json").read_text())
    assert lock["image"]["digest"] == info["digest"] and lock["kind"] == "pipeline"
    assert {"dvc", "scikit-learn", "hydra-core", "pip"} <= set(lock["dependencies"])
    # pushed where it was told, with the digest the lock records
    [push] = lock["pushed"]
    assert push["repository"] == pushed_to and push["digest"] == info["digest"]
    assert info["pushed"] == push["ref"] and push["ref"].startswith(f"{pushed_to}:")
    assert skopeo_digest(push["ref"]) == info["digest"]

    exported = mlopsctl(
        "export",
        "tekton",
        "--remote",
        "default",
        "--registry",
        "registry.example.com/t/demo",
        "--git-url",
        str(project),
        cwd=project,
    )
    assert exported.returncode == 0, exported.stderr
    bundle = tmp_path / "tekton"
    (project / "deploy" / "tekton").rename(bundle)
    tasks = bundle.joinpath("tasks.yaml").read_text()
    assert f"image: {pushed_to}@{info['digest']}" in tasks  # pinned where it was pushed

    loaded = podman("load", "-i", info["output"], env=container_env)
    assert info["tag"] in loaded.stdout + loaded.stderr
    try:
        [inspected] = json.loads(podman("image", "inspect", info["tag"], env=container_env).stdout)
        assert inspected["User"] == "1001:0" and inspected["Config"]["WorkingDir"] == "/workspace"
        assert inspected["Labels"]["io.mlopsctl.kind"] == "pipeline"

        # the serving image's dependency layer, prepared here once (no network in containers)
        host_build = mlopsctl(
            "build",
            "--base",
            str(fake_rootfs(tmp_path / "rootfs.tar", f"3.{sys.version_info.minor}")),
            "--output",
            str(tmp_path / "serving.tar"),
            cwd=project,
            env={**container_env, "XDG_CACHE_HOME": str(CACHE / "xdg")},
        )
        assert host_build.returncode == 0, host_build.stderr
        workspaces = {"source": tmp_path / "ws" / "source", "dvc-cache": tmp_path / "ws" / "cache"}
        for folder in workspaces.values():
            folder.mkdir(parents=True)
        remote = Path(read_dvc_remotes(project)[0]["default"])  # the local one init made
        writable(project, remote, workspaces["source"].parent, CACHE / "xdg")
        mounts = {project: str(project), remote: str(remote), CACHE / "xdg": "/cache"}
        result = run_pipeline(
            bundle,
            "demo",
            {"overrides": "model.C=0.5", "image-repo": ""},
            workspaces,
            info["tag"],
            ["podman"],
            mounts,
            container_env,
            extra_env={"XDG_CACHE_HOME": "/cache"},
        )
        # the sweep's matrix: one train TaskRun per entry, each in its own copy of the clone
        swept = run_pipeline(
            bundle,
            "demo-sweep",
            {"sweep": ["model.C=0.5", "model.C=2.0 model.max_iter=500"]},
            workspaces,
            info["tag"],
            ["podman"],
            mounts,
            container_env,
        )
    finally:
        podman("rmi", "-f", info["tag"], env=container_env, check=False)
    assert result.order == ["clone", "data", "train", "promote", "build-serving"]

    here = copy_project(project, tmp_path / "here")
    trained = mlopsctl("train", "--no-exp", "--json", "model.C=0.5", cwd=here)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(result.results["train"]["metrics"]) == json.loads(trained.stdout)["metrics"]
    assert result.results["promote"]["model"] == "demo@v0.0.1"
    tags = git("tag", "--list", cwd=project).stdout.split()
    assert "demo@v0.0.1" in tags and "demo#staging#1" in tags
    assert (
        git("rev-parse", "demo@v0.0.1^{commit}", cwd=project).stdout.strip()
        == result.results["train"]["commit"]
    )
    assert result.results["build-serving"]["image-digest"].startswith("sha256:")

    assert swept.order == ["clone", "data", "train-0", "train-1"]
    # the first entry is the lifecycle's override on the same commit: the same metrics
    assert json.loads(swept.results["train-0"]["metrics"]) == json.loads(
        result.results["train"]["metrics"]
    )
    other = mlopsctl(
        "train", "--no-exp", "--json", "model.C=2.0", "model.max_iter=500",
        cwd=copy_project(project, tmp_path / "here-2"),
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert json.loads(swept.results["train-1"]["metrics"]) == json.loads(other.stdout)["metrics"]
    assert swept.results["train-0"]["metrics"] != swept.results["train-1"]["metrics"]
    # a sweep promotes nothing: the registry's tags are the lifecycle's
    assert sorted(git("tag", "--list", cwd=project).stdout.split()) == sorted(tags)
    assert os.path.getsize(workspaces["source"] / "image" / "image.tar") > 0
