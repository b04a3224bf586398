"""`mlopsctl serve` as a user runs it: a real server on a loopback port."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import git, mlopsctl
from tests.serving.http import call, free_port, running


@contextmanager
def serving(*args: str, cwd: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "mlopsctl", "serve", *args, "--port", str(port)]
    with running(cmd, port, cwd=cwd) as base:
        yield base


def test_serve_the_projects_model(trained_template: Path) -> None:
    with serving(cwd=trained_template) as base:
        status, meta = call(f"{base}/v2/models/demo")
        assert status == 200 and len(meta["inputs"]) == 30
        status, answer = call(f"{base}/v1/models/demo:predict", {"instances": [[1.0] * 30] * 2})
        assert status == 200 and len(answer["predictions"]) == 2
        status, answer = call(f"{base}/v1/models/demo:predict", {"instances": [[1.0] * 3]})
        assert status == 422 and "30" in answer["error"]
        status, text = call(f"{base}/metrics")
        assert status == 200 and 'status="422"' in text


def test_a_model_folder_is_served_under_its_recorded_or_projects_name(
    trained_template: Path, tmp_path: Path
) -> None:
    """`serve demo/models` is the project's model `demo`; a staged copy keeps its name."""
    import json
    import shutil

    with serving("models", cwd=trained_template) as base:
        assert call(f"{base}/v2/models/demo")[0] == 200
    copy = tmp_path / "exported"
    shutil.copytree(trained_template / "models", copy)
    meta = json.loads((copy / "model.json").read_text())
    (copy / "model.json").write_text(json.dumps({**meta, "name": "churn"}))
    with serving(str(copy), cwd=tmp_path) as base:
        assert call(f"{base}/v2/models/churn")[0] == 200


def test_serve_a_registry_version_and_stage(trained_project: Path) -> None:
    git(
        "tag",
        "-a",
        "demo@v1.0.0",
        "-m",
        "Registering artifact demo version v1.0.0",
        cwd=trained_project,
    )
    git(
        "tag",
        "-a",
        "demo#prod#1",
        "-m",
        "Assigning stage prod to artifact demo version v1.0.0",
        cwd=trained_project,
    )
    # the workspace model is gone: the files come from DVC's cache at the tagged commit
    (trained_project / "models" / "model.pkl").unlink()
    for ref in ("demo@v1.0.0", "demo#prod"):
        with serving(ref, cwd=trained_project) as base:
            status, meta = call(f"{base}/v2/models/demo")
            assert status == 200 and meta["versions"] == ["v1.0.0"], ref
    with serving("--rev", "HEAD", cwd=trained_project) as base:
        head = git("rev-parse", "HEAD", cwd=trained_project).stdout.strip()
        assert call(f"{base}/v2/models/demo")[1]["versions"] == [head[:12]]


def test_serve_refuses_what_it_cannot_serve(trained_project: Path, tmp_path: Path) -> None:
    proc = mlopsctl("serve", "demo@v9.9.9", cwd=trained_project)
    assert proc.returncode == 2 and "demo@v9.9.9" in proc.stderr and "hint:" in proc.stderr
    proc = mlopsctl("serve", "demo#prod", cwd=trained_project)
    assert proc.returncode == 2 and "stage 'prod'" in proc.stderr
    proc = mlopsctl("serve", str(tmp_path / "nowhere"), cwd=trained_project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = mlopsctl("serve", cwd=tmp_path)
    assert proc.returncode == 3 and "not inside an mlopsctl project" in proc.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = mlopsctl("serve", "--port", port, cwd=trained_project)
    assert proc.returncode == 3 and "--port" in proc.stderr


def test_a_port_outside_1_to_65535_is_a_usage_error(tmp_path: Path) -> None:
    for port in ("99999", "70000", "-1", "0"):
        proc = mlopsctl("serve", "--port", port, cwd=tmp_path)
        assert proc.returncode == 2, (port, proc.stderr)
        assert "Traceback" not in proc.stderr and "--port" in proc.stderr


def test_a_model_using_the_projects_own_code_is_served(features_project: Path) -> None:
    """The Pipeline's FunctionTransformer and custom transformer live in src/demo/:
    `serve` finds them without the package being installed."""
    with serving(cwd=features_project) as base:
        rows = [[1.0] * 30, [20.0] * 30]
        body = {"inputs": [{"name": "x", "shape": [2, 30], "datatype": "FP64", "data": rows}]}
        status, answer = call(f"{base}/v2/models/demo/infer", body)
        assert status == 200, answer
        assert len(answer["outputs"][0]["data"]) == 2


def test_a_model_needing_a_missing_module_is_refused_before_serving(
    features_project: Path,
) -> None:
    (features_project / "src" / "demo" / "features.py").unlink()
    proc = mlopsctl("serve", "--port", str(free_port()), cwd=features_project)
    assert proc.returncode == 3
    assert "the model needs the module 'demo.features'" in proc.stderr
    assert "Serving" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_model_folder_inside_the_project_gets_its_code_too(features_project: Path) -> None:
    with serving("models", cwd=features_project) as base:
        assert call(f"{base}/v2/models/demo")[0] == 200


def test_sigterm_stops_serve_cleanly_and_leaves_no_folder(
    trained_template: Path, tmp_path: Path
) -> None:
    """SIGTERM (Kubernetes, systemd, `podman stop`) is a normal end: exit 0 after uvicorn's
    graceful shutdown, the staged model's folder removed."""
    import os
    import signal
    import subprocess

    from tests.serving.http import wait_ready

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "serve", "--port", str(port)],
        cwd=trained_template,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        assert [p.name.startswith("mlopsctl-serve-") for p in tmp_path.iterdir()] == [True]
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped (SIGTERM)" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
