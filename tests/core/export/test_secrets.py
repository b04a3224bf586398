"""The KFP steps' credentials: Secrets mounted as Kubernetes mounts them (keys as symlinks
into a `..data` folder), put where the real git, DVC and the push read them; and the mounts
the export writes are the ones kfp-kubernetes writes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlopsctl.core.export.secrets import KINDS, MOUNTS, platform_config, use_mounted_secrets


def secret_volume(folder: Path, data: dict[str, str]) -> None:
    """A Secret volume as the kubelet writes it: the keys are symlinks into ..data."""
    real = folder / "..2026_12_02_00_00_00.000000001"
    real.mkdir(parents=True)
    for key, value in data.items():
        (real / key).write_text(value)
    (folder / "..data").symlink_to(real.name)
    for key in data:
        (folder / key).symlink_to(f"..data/{key}")


def test_mounted_secrets_reach_git_dvc_and_the_push(tmp_path: Path) -> None:
    mounts, home = tmp_path / "secrets", tmp_path / "home"
    home.mkdir()
    secret_volume(
        mounts / "git",
        {
            ".git-credentials": "https://bot:s3cret@git.example.com\n",
            ".gitconfig": "[credential]\n\thelper = store\n",
        },
    )
    secret_volume(mounts / "dvc", {"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "x"})
    secret_volume(mounts / "registry", {".dockerconfigjson": '{"auths": {}}'})
    environ = {"HOME": str(home)}  # the step's environment (os.environ when run in a step)

    assert use_mounted_secrets(mounts, environ=environ) == ["git", "dvc", "registry"]
    assert environ["AWS_ACCESS_KEY_ID"] == "AKIA1" and environ["AWS_SECRET_ACCESS_KEY"] == "x"
    assert "..data" not in environ
    assert environ["REGISTRY_AUTH_FILE"] == str(mounts / "registry" / ".dockerconfigjson")
    assert (home / ".git-credentials").stat().st_mode & 0o077 == 0
    # the real git now answers with the Secret's password for that host
    asked = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=https\nhost=git.example.com\n\n",
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"},
        check=True,
    )
    assert "password=s3cret" in asked.stdout


def test_nothing_mounted_is_nothing_used(tmp_path: Path) -> None:
    assert use_mounted_secrets(tmp_path / "none", tmp_path, environ={}) == []
    assert list(tmp_path.iterdir()) == []


def test_the_mounts_are_what_kfp_kubernetes_writes() -> None:
    pytest.importorskip("kfp")
    kubernetes = pytest.importorskip("kfp.kubernetes")
    from kfp import dsl

    names = {kind: f"demo-{kind}" for kind in KINDS}

    @dsl.component(base_image="quay.io/t/p@sha256:" + "a" * 64)
    def step():  # type: ignore[no-untyped-def]  (kfp reads annotations: none here)
        pass

    seen = {}

    @dsl.pipeline(name="p")
    def pipeline():  # type: ignore[no-untyped-def]
        ours, theirs = step(), step()
        ours.platform_config.update(platform_config(names, ("git", "registry")))
        for kind in ("git", "registry"):
            kubernetes.use_secret_as_volume(
                theirs, secret_name=names[kind], mount_path=str(MOUNTS / kind), optional=True
            )
        seen["ours"], seen["theirs"] = ours.platform_config, theirs.platform_config

    assert seen["ours"] == seen["theirs"]
