"""The image end to end with real podman and buildah: build it on a Debian base made by
mmdebstrap, run it as OpenShift does (arbitrary UID in group 0, read-only root), and ask
it for predictions over HTTP."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mlopsctl, run
from tests.image.conftest import CACHE, made_once
from tests.serving.http import call, free_port, wait_ready

pytestmark = [pytest.mark.slow, pytest.mark.image, pytest.mark.network]

CONTAINERS_CONF = """\
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
"""
MMDEBSTRAP = [
    "mmdebstrap",
    "--quiet",
    "--variant=minbase",
    "--include=python3,python3-venv,ca-certificates",
    *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "info", "locale")),
    "bookworm",
]


@pytest.fixture(scope="session")
def container_env(
    build_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    for tool in ("podman", "mmdebstrap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    conf = tmp_path_factory.mktemp("containers") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    return {**build_env, "CONTAINERS_CONF": str(conf)}


@pytest.fixture(scope="session")
def debian_base(container_env: dict[str, str]) -> Path:
    """A Debian bookworm root filesystem with Python, made once a month and kept."""
    env = {**container_env, "SOURCE_DATE_EPOCH": "1700000000"}
    return made_once(
        CACHE / f"base-bookworm-python3-{date.today():%Y%m}.tar",
        lambda part: run([*MMDEBSTRAP, str(part)], CACHE, env=env, check=True),
    )


def podman(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["podman", *args], Path.cwd(), env=env, check=check)


@dataclass
class Running:
    url: str  # http://127.0.0.1:PORT, published from the container's 8080
    name: str


@contextmanager
def container(tag: str, env: dict[str, str], client: str = "podman") -> Iterator[Running]:
    """Run `tag` as OpenShift does (arbitrary UID in group 0, read-only root) with `client`
    (podman, or docker against DOCKER_HOST in `env`); removed afterwards."""
    name = f"mlopsctl-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    run(
        [
            client,
            "run",
            "-d",
            "--name",
            name,
            "--user",
            "1000680000:0",
            "--read-only",
            "-p",
            f"127.0.0.1:{port}:8080",
            tag,
        ],
        Path.cwd(),
        env=env,
        check=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, timeout=120)
        except AssertionError:
            logs = run([client, "logs", name], Path.cwd(), env=env)
            raise AssertionError(f"container not ready:\n{logs.stdout}{logs.stderr}") from None
        yield Running(url, name)
    finally:
        run([client, "rm", "-f", name], Path.cwd(), env=env)


def in_process_predictions(
    project: Path, rows: list[list[float]], features: list[str]
) -> list[int]:
    """The model's predictions the way its evaluate stage makes them: an array of the
    feature columns in model.json's order."""
    import numpy as np

    assert json.loads((project / "models" / "model.json").read_text())["features"] == features
    with open(project / "models" / "model.pkl", "rb") as fh:
        pipeline = pickle.load(fh)
    return pipeline.predict(np.array(rows, dtype=np.float64)).tolist()


def check_serving(base: str, project: Path, test_rows: tuple[list[str], list[list[float]]]) -> None:
    features, rows = test_rows
    body = {
        "inputs": [
            {"name": "x", "shape": [len(rows), len(features)], "datatype": "FP64", "data": rows}
        ]
    }
    status, answer = call(f"{base}/v2/models/demo/infer", body)
    assert status == 200, answer
    assert answer["outputs"][0]["data"] == in_process_predictions(project, rows, features)
    status, answer = call(f"{base}/v1/models/demo:predict", {"instances": [[1.0] * 3]})
    assert status == 422 and "30" in answer["error"]
    assert call(f"{base}/v2/models/demo/infer", b"{oops")[0] == 400
    status, text = call(f"{base}/metrics")
    assert status == 200
    assert 'route="/v2/models/{name}/infer",method="POST",status="200"' in text


@dataclass
class Built:
    info: dict[str, Any]  # what `mlopsctl build --json` printed
    tar: Path


@pytest.fixture(scope="session")
def native_image(
    trained_template: Path,
    debian_base: Path,
    container_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Built:
    """The trained template's model built natively on the Debian base, once."""
    out = tmp_path_factory.mktemp("native") / "image.tar"
    proc = mlopsctl(
        "build",
        "--json",
        "--base",
        str(debian_base),
        "-o",
        str(out),
        cwd=trained_template,
        env=container_env,
        check=True,
    )
    return Built(json.loads(proc.stdout), out)


@pytest.fixture(scope="session")
def docker_env(container_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The docker client talking to podman's Docker-compatible API on a private socket (no
    Docker engine runs here); the service ends with the session."""
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed (this machine kind has it)")
    folder = Path(tempfile.mkdtemp(prefix="mlopsctl-docker-"))  # short: a socket path
    sock = folder / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        env=container_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**container_env, "DOCKER_HOST": f"unix://{sock}"}
    try:
        for _ in range(300):  # a bound on waiting for the socket, not a timing check
            if service.poll() is not None:
                pytest.fail(f"podman system service exited with {service.returncode}")
            if sock.exists() and run(["docker", "version"], folder, env=env).returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail("podman system service did not answer docker version")
        yield env
    finally:
        service.terminate()
        service.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


HEALTHCHECK = ["CMD", "python3", "-m", "mlopsctl.serving.probe"]


def test_native_image_runs_as_an_arbitrary_uid_on_a_read_only_root(
    trained_template: Path,
    native_image: Built,
    container_env: dict[str, str],
    test_rows: tuple[list[str], list[list[float]]],
    tmp_path: Path,
) -> None:
    built, out = native_image.info, native_image.tar
    loaded = podman("load", "-i", str(out), env=container_env)
    assert built["tag"] in loaded.stdout + loaded.stderr
    try:
        inspected = json.loads(podman("image", "inspect", built["tag"], env=container_env).stdout)
        assert inspected[0]["Labels"]["io.mlopsctl.model.name"] == "demo"
        # podman keeps HEALTHCHECK only from a docker schema 2 manifest and config
        assert inspected[0]["ManifestType"].startswith("application/vnd.docker.")
        assert inspected[0]["Healthcheck"]["Test"] == HEALTHCHECK
        with container(built["tag"], container_env) as running:
            check_serving(running.url, trained_template, test_rows)
            # runs the image's HEALTHCHECK command in the container now: exit 0 is healthy
            podman("healthcheck", "run", running.name, env=container_env)
            health = podman(
                "inspect", "--format", "{{.State.Health.Status}}", running.name, env=container_env
            )
            assert health.stdout.strip() == "healthy"
        if shutil.which("skopeo"):
            skopeo = run(["skopeo", "inspect", f"oci-archive:{out}"], tmp_path, check=True)
            assert json.loads(skopeo.stdout)["Digest"] == built["digest"]
            skopeo = run(["skopeo", "inspect", f"docker-archive:{out}"], tmp_path, check=True)
            assert json.loads(skopeo.stdout)["Labels"]["io.mlopsctl.model.name"] == "demo"
    finally:
        podman("rmi", "-f", built["tag"], env=container_env, check=False)


def test_buildah_builds_the_same_context_and_it_serves(
    trained_project: Path,
    debian_base: Path,
    container_env: dict[str, str],
    test_rows: tuple[list[str], list[list[float]]],
    tmp_path: Path,
) -> None:
    if shutil.which("buildah") is None:
        pytest.skip("buildah is not installed (.ci/run installs it)")
    tag = "localhost/demo:buildah-test"
    proc = mlopsctl(
        "build",
        "--json",
        "--builder",
        "buildah",
        "--base",
        str(debian_base),
        "--tag",
        tag,
        "-o",
        str(tmp_path / "b.tar"),
        cwd=trained_project,
        env=container_env,
        check=True,
    )
    built = json.loads(proc.stdout)
    assert built["builder"] == "buildah"
    try:
        if shutil.which("skopeo"):  # the file keeps the docker format, HEALTHCHECK and all
            archive = f"oci-archive:{tmp_path / 'b.tar'}"
            skopeo = run(["skopeo", "inspect", archive], tmp_path, check=True)
            assert json.loads(skopeo.stdout)["Digest"] == built["digest"]
            raw = run(["skopeo", "inspect", "--raw", "--config", archive], tmp_path, check=True)
            assert json.loads(raw.stdout)["config"]["Healthcheck"]["Test"] == HEALTHCHECK
        with container(tag, container_env) as running:
            check_serving(running.url, trained_project, test_rows)
    finally:
        podman("rmi", "-f", tag, env=container_env, check=False)


def test_docker_loads_the_native_image_with_its_labels_and_healthcheck(
    trained_template: Path,
    native_image: Built,
    docker_env: dict[str, str],
    container_env: dict[str, str],
    test_rows: tuple[list[str], list[list[float]]],
) -> None:
    tag = native_image.info["tag"]
    loaded = run(["docker", "load", "-i", str(native_image.tar)], Path.cwd(), env=docker_env)
    assert loaded.returncode == 0, loaded.stderr
    assert tag in loaded.stdout
    try:
        inspect = ["docker", "image", "inspect", tag]
        image = json.loads(run(inspect, Path.cwd(), env=docker_env, check=True).stdout)[0]
        assert image["Config"]["Labels"]["io.mlopsctl.model.name"] == "demo"
        assert image["Config"]["User"] == "1001:0"
        # podman's Docker API leaves Healthcheck out of an image's inspect (its compat image
        # inspect does not fill it in); a container made from the image through it has it
        with container(tag, docker_env, client="docker") as running:
            check_serving(running.url, trained_template, test_rows)
            made = ["docker", "inspect", running.name]
            config = json.loads(run(made, Path.cwd(), env=docker_env, check=True).stdout)[0]
            assert config["Config"]["Healthcheck"]["Test"] == HEALTHCHECK
            podman("healthcheck", "run", running.name, env=container_env)
    finally:
        run(["docker", "rmi", "-f", tag], Path.cwd(), env=docker_env)


def test_docker_builder_builds_the_same_context_and_it_serves(
    trained_project: Path,
    debian_base: Path,
    docker_env: dict[str, str],
    test_rows: tuple[list[str], list[list[float]]],
    tmp_path: Path,
) -> None:
    tag = "localhost/demo:docker-test"
    out = tmp_path / "d" / "image.tar"
    proc = mlopsctl(
        "build",
        "--json",
        "--builder",
        "docker",
        "--base",
        str(debian_base),
        "--tag",
        tag,
        "-o",
        str(out),
        cwd=trained_project,
        env=docker_env,
        check=True,
    )
    built = json.loads(proc.stdout)
    try:
        assert built["builder"] == "docker" and built["id"].startswith("sha256:")
        assert sorted(p.name for p in out.parent.iterdir()) == [
            "image.cdx.json",
            "image.lock.json",
            "image.tar",
        ]
        lock = json.loads((out.parent / "image.lock.json").read_text())
        assert lock["image"]["id"] == built["id"] and lock["image"]["builder"] == "docker"
        with tarfile.open(out) as saved:  # `docker save`: a docker-archive at least
            assert "manifest.json" in saved.getnames()
        with container(tag, docker_env, client="docker") as running:
            check_serving(running.url, trained_project, test_rows)
            made = ["docker", "inspect", running.name]
            config = json.loads(run(made, Path.cwd(), env=docker_env, check=True).stdout)[0]
            assert config["Config"]["Healthcheck"]["Test"] == HEALTHCHECK
            assert config["Config"]["Labels"]["io.mlopsctl.model.name"] == "demo"
    finally:
        run(["docker", "rmi", "-f", tag], Path.cwd(), env=docker_env)


def test_a_failed_docker_build_leaves_no_image_file(
    trained_project: Path, debian_base: Path, docker_env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "d" / "image.tar"
    proc = mlopsctl(
        "build",
        "--builder",
        "docker",
        "--base",
        str(debian_base),
        "--tag",
        "localhost/Not-A-Valid-Name:x",  # docker refuses upper case in a repository name
        "-o",
        str(out),
        cwd=trained_project,
        env=docker_env,
    )
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert "docker could not build the image: invalid argument" in proc.stderr
    assert "hint:" in proc.stderr
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.image
def test_an_image_of_a_model_with_the_projects_code_serves_under_podman(
    features_template: Path,
    debian_base: Path,
    container_env: dict[str, str],
    tmp_path: Path,
) -> None:
    out = tmp_path / "image.tar"
    proc = mlopsctl(
        "build", "--json", "--base", str(debian_base), "--tag", "localhost/demo:features",
        "-o", str(out), cwd=features_template, env=container_env, check=True,
    )  # fmt: skip
    tag = json.loads(proc.stdout)["tag"]
    podman("load", "-i", str(out), env=container_env)
    try:
        with container(tag, container_env) as running:
            rows = [[1.0] * 30, [20.0] * 30]
            body = {"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": rows}]}
            status, answer = call(f"{running.url}/v2/models/demo/infer", body)
            assert status == 200, answer
            assert len(answer["outputs"][0]["data"]) == 2
    finally:
        podman("rmi", "-f", tag, env=container_env, check=False)
