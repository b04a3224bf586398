"""A token in the origin URL is not in the image's labels, its index.json annotations or
image.lock.json."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.cli.test_credentials import SECRET
from tests.conftest import git, mlopsctl


@pytest.mark.image
def test_a_token_in_the_origin_url_is_not_in_the_image_or_its_lock(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    origin = f"https://ci-bot:{SECRET}@git.example.invalid/org/demo.git"
    git("remote", "add", "origin", origin, cwd=trained_project)
    out = tmp_path / "image.tar"
    proc = mlopsctl(
        "build",
        "--json",
        "--base",
        str(small_base),
        "-o",
        str(out),
        cwd=trained_project,
        env=build_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    labels = json.loads(proc.stdout)["labels"]
    assert labels["org.opencontainers.image.source"] == "https://git.example.invalid/org/demo.git"
    lock = (tmp_path / "image.lock.json").read_text()
    assert SECRET not in lock and "git.example.invalid/org/demo.git" in lock
    with tarfile.open(out) as image:
        for member in image.getmembers():
            if member.isfile() and member.size < 1_000_000:  # index.json, manifests, config
                data = image.extractfile(member).read()  # type: ignore[union-attr]
                assert SECRET.encode() not in data, member.name
        index = json.loads(image.extractfile("index.json").read())  # type: ignore[union-attr]
    annotations = index["manifests"][0]["annotations"]
    assert (
        annotations["org.opencontainers.image.source"] == labels["org.opencontainers.image.source"]
    )
