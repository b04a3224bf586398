"""`mlopsctl build` with the native builder: what is in the image, and that it is the same
image whenever and wherever it is built."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_project, mlopsctl
from tests.image.conftest import fake_rootfs

# the dependency layer is pip-installed from the package index
pytestmark = [pytest.mark.slow, pytest.mark.network]


def build(project: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = mlopsctl("build", "--json", *args, cwd=project, env=env, check=True)
    return json.loads(proc.stdout)


def blob(image: tarfile.TarFile, digest: str) -> bytes:
    fh = image.extractfile(f"blobs/sha256/{digest.split(':')[1]}")
    assert fh is not None
    return fh.read()


def test_same_model_same_digest_in_other_folders_at_other_times(
    trained_template: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    first = copy_project(trained_template, tmp_path / "a")
    second = copy_project(trained_template, tmp_path / "b")
    for path in second.rglob("*"):  # a checkout made at another time
        if path.is_file() and not path.is_symlink():
            os.utime(path, (2_000_000_000, 2_000_000_000))
    one = build(first, build_env, "--base", str(small_base), "-o", str(tmp_path / "one.tar"))
    two = build(second, build_env, "--base", str(small_base), "-o", str(tmp_path / "two.tar"))
    assert one["digest"] == two["digest"] and one["digest"].startswith("sha256:")
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    lock = json.loads((tmp_path / "one.lock.json").read_text())
    assert lock["image"]["digest"] == one["digest"]
    assert [layer["role"] for layer in lock["image"]["layers"]] == ["base", "deps", "model", "app"]
    assert "scikit-learn" in lock["dependencies"] and "pandas" not in lock["dependencies"]


def test_the_image_tar_and_its_layers_are_normalised(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "image.tar"
    built = build(trained_project, build_env, "--base", str(small_base), "-o", str(out))
    commit_time = int(
        mlopsctl("--version", cwd=trained_project).returncode == 0
        and os.popen(f"git -C {trained_project} show -s --format=%ct HEAD").read().strip()
    )
    with tarfile.open(out) as image:
        names = image.getnames()
        assert names == sorted(names)
        assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
        assert {m.mtime for m in image.getmembers()} == {commit_time}
        index = json.loads(blob_or_file(image, "index.json"))
        manifest_digest = index["manifests"][0]["digest"]
        assert manifest_digest == built["digest"]
        assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == built["tag"]
        docker = json.loads(blob_or_file(image, "manifest.json"))
        assert docker[0]["RepoTags"] == [built["tag"]]
        manifest = json.loads(blob(image, manifest_digest))
        for layer in manifest["layers"][1:]:  # ours: the base's are kept as they are
            data = blob(image, layer["digest"])
            assert data[4:8] == b"\0\0\0\0"  # gzip without a timestamp
            with tarfile.open(fileobj=__import__("io").BytesIO(data)) as inner:
                members = inner.getmembers()
                assert [m.name for m in members] == sorted(m.name for m in members)
                assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(1001, 0, "", "")}
                assert {m.mtime for m in members} == {commit_time}
                assert all(m.mode & 0o020 for m in members if not m.issym())  # group-writable


def blob_or_file(image: tarfile.TarFile, name: str) -> bytes:
    fh = image.extractfile(name)
    assert fh is not None
    return fh.read()


def test_labels_healthcheck_user_and_sbom(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "image.tar"
    build(trained_project, build_env, "--base", str(small_base), "-o", str(out))
    with tarfile.open(out) as image:
        index = json.loads(blob_or_file(image, "index.json"))
        manifest = json.loads(blob(image, index["manifests"][0]["digest"]))
        config = json.loads(blob(image, manifest["config"]["digest"]))
        deps_layer = blob(image, manifest["layers"][1]["digest"])
    labels = config["config"]["Labels"]
    model = json.loads((trained_project / "models" / "model.json").read_text())
    assert labels["org.opencontainers.image.title"] == "demo"
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert len(labels["io.mlopsctl.model.sha256"]) == 64
    assert len(labels["io.mlopsctl.params.sha256"]) == 64
    assert model["features"]
    assert config["config"]["User"] == "1001:0"
    assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert config["config"]["Healthcheck"]["Test"][0] == "CMD"
    # docker schema 2 types: podman keeps HEALTHCHECK only for images whose manifest is docker's
    assert index["manifests"][0]["mediaType"] == manifest["mediaType"]
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    assert "annotations" not in manifest
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.title"] == "demo"
    assert "Cmd" not in config["config"]
    sbom = json.loads((tmp_path / "image.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    names = {c["name"]: c for c in sbom["components"]}
    assert {"scikit-learn", "numpy", "uvicorn", "httptools"} <= set(names)
    assert names["numpy"]["hashes"][0]["alg"] == "SHA-256"
    with tarfile.open(fileobj=__import__("io").BytesIO(deps_layer)) as inner:
        inside = inner.extractfile("app/deps/sbom.cdx.json")
        assert inside is not None and json.loads(inside.read()) == sbom
        listed = inner.getnames()
    assert not any(n.startswith("app/deps/site-packages/pandas") for n in listed)
    assert not any(n.startswith("app/deps/site-packages/bin") for n in listed)


def test_context_only_is_a_plain_offline_context(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    context = tmp_path / "ctx"
    result = build(
        trained_project, build_env, "--base", str(small_base), "--context-only", str(context)
    )
    assert result["digest"] is None
    containerfile = (context / "Containerfile").read_text()
    instructions = [ln.split()[0] for ln in containerfile.splitlines() if ln and ln[0] != "#"]
    assert "RUN" not in instructions and "ADD" not in instructions
    assert "FROM ${BASE}" in containerfile and "ARG BASE=oci-archive:" in containerfile
    assert (context / "model" / "model.pkl").is_file()
    meta = json.loads((context / "model" / "model.json").read_text())
    assert len(meta["sha256"]) == 64 and meta["name"] == "demo"
    assert (context / "app" / "mlopsctl" / "serving" / "app.py").is_file()
    assert (context / "deps" / "site-packages" / "sklearn").is_dir()
    assert not (tmp_path / "dist").exists() and not (trained_project / "dist").exists()


def test_refusals_say_what_to_do_and_leave_no_image(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "image.tar"

    def refused(*args: str, cwd: Path = trained_project) -> tuple[int, str]:
        proc = mlopsctl("build", *args, "-o", str(out), cwd=cwd, env=build_env)
        assert "Traceback" not in proc.stderr
        assert not out.exists()
        return proc.returncode, proc.stderr

    env_without_base = {k: v for k, v in build_env.items() if k != "MLOPSCTL_BASE_IMAGE"}
    proc = mlopsctl("build", "-o", str(out), cwd=trained_project, env=env_without_base)
    assert proc.returncode == 3 and "no base image" in proc.stderr and "mmdebstrap" in proc.stderr
    no_python = tmp_path / "nopython.tar"
    with tarfile.open(no_python, "w") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    code, err = refused("--base", str(no_python))
    assert code == 2 and "no python3" in err
    other = fake_rootfs(tmp_path / "py399.tar", "3.99")
    code, err = refused("--base", str(other))
    assert code == 3 and "Python 3.99" in err and "hint:" in err
    code, err = refused("--base", str(tmp_path / "missing.tar"))
    assert (code == 3 and "cannot get the base image" in err) or "no podman" in err
    code, err = refused("--base", str(small_base), "--builder", "kaniko")
    assert code == 2 and "unknown builder" in err
    shutil.rmtree(trained_project / "models")
    code, err = refused("--base", str(small_base))
    assert code == 2 and "no trained model" in err
    code, err = refused("--base", str(small_base), "demo@v9.9.9")
    assert code == 2 and "demo@v9.9.9" in err


def test_docker_builder_without_docker_or_its_daemon_says_what_to_do(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out" / "image.tar"
    args = ("build", "--builder", "docker", "--base", str(small_base), "-o", str(out))
    no_tools = tmp_path / "empty-path"
    no_tools.mkdir()
    proc = mlopsctl(*args, cwd=trained_project, env={**build_env, "PATH": str(no_tools)})
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "docker is not installed" in proc.stderr and "--builder native" in proc.stderr
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed: no daemon to miss")
    nowhere = f"unix://{tmp_path}/no-daemon.sock"
    proc = mlopsctl(*args, cwd=trained_project, env={**build_env, "DOCKER_HOST": nowhere})
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "no Docker daemon answers" in proc.stderr and "no-daemon.sock" in proc.stderr
    assert "DOCKER_HOST" in proc.stderr and "--builder native" in proc.stderr
    assert not out.parent.exists()


def test_the_explicit_native_builder_builds_what_auto_builds(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    auto = build(
        trained_project, build_env, "--base", str(small_base), "-o", str(tmp_path / "a.tar")
    )
    native = build(
        trained_project,
        build_env,
        "--builder",
        "native",
        "--base",
        str(small_base),
        "-o",
        str(tmp_path / "n.tar"),
    )
    assert native["builder"] == "native" and native["digest"] == auto["digest"]


def test_a_killed_build_leaves_nothing_the_next_build_keeps(
    trained_project: Path, small_base: Path, build_env: dict[str, str], tmp_path: Path
) -> None:
    """kill -9 while the image is being written: its work folder (hundreds of MB) is removed
    by the next build, which builds the same image; no image tar is left half-written."""
    from tests.cli.test_faults import kill, start, wait_for

    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {**build_env, "TMPDIR": str(temp)}
    out = tmp_path / "image.tar"
    args = ("build", "--base", str(small_base), "-o", str(out))
    proc = start(*args, cwd=trained_project, env=env)
    wait_for(lambda: any(temp.glob("mlopsctl-build-*/*")), proc, "the build's work folder")
    kill(proc, group=True)
    [left] = temp.glob("mlopsctl-build-*")
    assert not out.exists()

    built = build(trained_project, env, *args[1:])
    assert not left.exists() and list(temp.glob("mlopsctl-build-*")) == []
    assert out.is_file() and built["digest"].startswith("sha256:")
