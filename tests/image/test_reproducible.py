"""Cold-cache builds: the dependency layer made from nothing, twice, in two folders, is the
same layer, and what it compiled names the image's paths, not the build machine's. The same
holds for the pipeline image (the project's whole environment, git and DVC)."""

from __future__ import annotations

import io
import json
import marshal
import tarfile
from pathlib import Path

import pytest

from tests.conftest import copy_project, mlopsctl
from tests.image.conftest import CACHE
from tests.image.test_e2e import container_env  # noqa: F401
from tests.image.test_pipeline_image import git_base  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.image]


def test_two_cold_builds_in_two_folders_give_one_digest(
    trained_template: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    built = []
    for side in ("a", "b"):
        project = copy_project(trained_template, tmp_path / f"work-{side}")
        env = {
            **build_env,
            "XDG_CACHE_HOME": str(tmp_path / f"cold-cache-{side}"),  # an empty cache
            "PIP_CACHE_DIR": str(CACHE / "pip"),  # pip's downloads may be shared
        }
        out = tmp_path / f"{side}.tar"
        proc = mlopsctl(
            "build", "--json", "--base", str(small_base), "-o", str(out), cwd=project, env=env
        )
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / f"cold-cache-{side}" / "mlopsctl" / "deps").is_dir()
        built.append(json.loads(proc.stdout))
    assert built[0]["digest"] == built[1]["digest"]
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()

    with tarfile.open(tmp_path / "a.tar") as image:
        index = json.loads(image.extractfile("index.json").read())  # type: ignore[union-attr]
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads(image.extractfile(f"blobs/sha256/{digest}").read())  # type: ignore[union-attr]
        deps = manifest["layers"][1]["digest"].split(":")[1]
        layer = image.extractfile(f"blobs/sha256/{deps}").read()  # type: ignore[union-attr]
    assert str(tmp_path).encode() not in layer
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        pycs = [m for m in inner.getmembers() if m.name.endswith(".pyc")]
        assert len(pycs) > 100
        for member in pycs[:: max(1, len(pycs) // 50)]:
            data = inner.extractfile(member).read()  # type: ignore[union-attr]
            code = marshal.loads(data[16:])
            # the source's path in the image: what a traceback there shows
            source = "/" + member.name.replace("__pycache__/", "").rsplit(".", 2)[0] + ".py"
            assert code.co_filename == source, member.name


def test_the_pipeline_image_from_two_cold_caches_in_two_folders_is_one_image(
    trained_template: Path,
    git_base: Path,  # noqa: F811
    build_env: dict[str, str],
    tmp_path: Path,
) -> None:
    built = []
    for side in ("a", "b"):
        project = copy_project(trained_template, tmp_path / f"work-{side}")
        env = {
            **build_env,
            "XDG_CACHE_HOME": str(tmp_path / f"cold-cache-{side}"),
            "PIP_CACHE_DIR": str(CACHE / "pip"),
        }
        out = tmp_path / f"{side}.tar"
        proc = mlopsctl(
            "build", "--kind", "pipeline", "--json", "--base", str(git_base), "-o", str(out),
            cwd=project, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        built.append(json.loads(proc.stdout))
    assert built[0]["digest"] == built[1]["digest"]
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    lock = json.loads((tmp_path / "a.lock.json").read_text())
    assert lock["kind"] == "pipeline" and lock["image"]["digest"] == built[0]["digest"]
