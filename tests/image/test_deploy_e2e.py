"""The manifest's container really runs: the image pushed to a loopback registry, pulled by
the digest the overlay pins, run by podman with the manifest's args, env, port, user and
read-only settings, ready on the manifest's readiness path, and answering inferences."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import run
from tests.image.registry import Registry, registry
from tests.image.test_deploy import REPO_URL, ok, render
from tests.image.test_e2e import Built, check_serving, container_env, debian_base, native_image
from tests.serving.http import free_port

__all__ = ["container_env", "debian_base", "native_image", "registry"]
pytestmark = [pytest.mark.image, pytest.mark.slow]


def wait_path(url: str, timeout: float = 120) -> None:
    """Poll `url` until it answers 200 (a bound on waiting, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered 200")


def test_the_staging_manifest_runs_pulled_by_digest(
    trained_project: Path,
    native_image: Built,
    container_env: dict[str, str],
    registry: Registry,
    test_rows: tuple[list[str], list[list[float]]],
) -> None:
    project = trained_project
    (project / "dist").mkdir()
    for name in ("image.tar", "image.lock.json"):
        shutil.copyfile(native_image.tar.with_name(name), project / "dist" / name)
    repo = f"{registry.host}/demo/serving"
    ok("push", f"{repo}:e2e", "--tls-verify=false", cwd=project)
    ok("promote", "--to", "staging", cwd=project)
    ok("export", "serving", "--repo-url", REPO_URL, cwd=project)
    docs = render(project, "deploy/serving/overlays/staging")
    service = next(d for d in docs if d["kind"] == "InferenceService")
    pod = service["spec"]["predictor"]
    container = pod["containers"][0]
    assert container["image"] == f"{repo}@{native_image.info['digest']}"

    podman = ["podman", "--log-level=error"]
    run([*podman, "pull", "--tls-verify=false", container["image"]], project,
        env=container_env, check=True)  # fmt: skip
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and "runAsUser" not in security
    port = free_port()
    name = f"mlopsctl-deploy-{uuid.uuid4().hex[:8]}"
    cmd = [
        *podman, "run", "-d", "--name", name,
        # OpenShift's restricted-v2: an arbitrary UID in group 0, nothing added
        "--user", "1000680000:0",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "-p", f"127.0.0.1:{port}:{container['ports'][0]['containerPort']}",
    ]  # fmt: skip
    if security["readOnlyRootFilesystem"]:
        cmd.append("--read-only")
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        assert "emptyDir" in volumes[mount["name"]]
        cmd += ["--tmpfs", mount["mountPath"]]
    for env in container["env"]:
        cmd += ["-e", f"{env['name']}={env['value']}"]
    cmd += [container["image"], *container["args"]]
    run(cmd, project, env=container_env, check=True)
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            wait_path(base + container["readinessProbe"]["httpGet"]["path"])
            wait_path(base + container["livenessProbe"]["httpGet"]["path"])
        except AssertionError:
            logs = run([*podman, "logs", name], project, env=container_env)
            raise AssertionError(f"not ready:\n{logs.stdout}{logs.stderr}") from None
        check_serving(base, project, test_rows)
    finally:
        run([*podman, "rm", "-f", name], project, env=container_env)
