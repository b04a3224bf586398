"""A model whose bytes are not the recorded ones is refused by `serve` and `build` before
anything unpickles it: the workspace, a folder, NAME@v, NAME#stage, --rev, the DVC cache."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IDENTITY
from tests.image.conftest import fake_rootfs
from tests.serving.http import free_port

PORT = str(free_port())


class _RunsCode:
    """Unpickling this makes a folder: proof that the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def tamper(path: Path, marker: Path) -> None:
    path.unlink()  # the DVC cache's copies are read-only hard links: replace, not rewrite
    path.write_bytes(pickle.dumps(_RunsCode(marker)))


def mlopsctl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI with a bound on time: a model that is wrongly accepted would serve forever."""
    env = {**os.environ, **IDENTITY}
    try:
        return subprocess.run(
            [sys.executable, "-m", "mlopsctl", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{args} did not refuse the model: it kept running") from exc


def refused(proc: object, marker: Path, says: str) -> None:
    assert proc.returncode == 1, proc.stderr  # type: ignore[attr-defined]
    err = proc.stderr  # type: ignore[attr-defined]
    assert "refusing to load it" in err and says in err and "hint:" in err, err
    assert "Traceback" not in err
    assert not marker.exists(), "the tampered pickle ran"


def test_serve_refuses_a_workspace_model_dvc_lock_does_not_record(
    trained_project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    tamper(trained_project / "models" / "model.pkl", marker)
    refused(mlopsctl("serve", "--port", PORT, cwd=trained_project), marker, "dvc.lock")
    refused(mlopsctl("serve", "models", "--port", PORT, cwd=trained_project), marker, "dvc.lock")


def test_serve_refuses_a_folder_whose_model_json_records_another_sha256(
    trained_template: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "exported"
    shutil.copytree(trained_template / "models", folder)
    meta = json.loads((folder / "model.json").read_text())
    good = __import__("hashlib").sha256((folder / "model.pkl").read_bytes()).hexdigest()
    (folder / "model.json").write_text(json.dumps({**meta, "sha256": good}))
    marker = tmp_path / "ran"
    tamper(folder / "model.pkl", marker)
    refused(mlopsctl("serve", str(folder), "--port", PORT, cwd=tmp_path), marker, "model.json")


@pytest.mark.slow
def test_a_registered_version_and_a_revision_are_checked_against_the_registry_and_dvc_lock(
    trained_project: Path, tmp_path: Path
) -> None:
    proc = mlopsctl("promote", "--to", "staging", cwd=trained_project)
    assert proc.returncode == 0, proc.stderr
    marker = tmp_path / "ran"
    # the workspace copy and the DVC cache object behind it are both replaced
    pkl = trained_project / "models" / "model.pkl"
    md5 = __import__("hashlib").md5(pkl.read_bytes()).hexdigest()
    cache = trained_project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert cache.is_file()
    tamper(cache, marker)
    tamper(pkl, marker)
    for ref in ("demo#staging", "demo@v0.0.1", "--rev=HEAD"):
        args = [ref] if not ref.startswith("--") else ref.split("=")
        refused(mlopsctl("serve", *args, "--port", PORT, cwd=trained_project), marker, "recorded")
    base = fake_rootfs(tmp_path / "rootfs.tar", "3.11")
    out = tmp_path / "image.tar"
    proc = mlopsctl(
        "build", "demo@v0.0.1", "--base", str(base), "-o", str(out), cwd=trained_project
    )
    refused(proc, marker, "the registry's record of demo v0.0.1")
    assert not out.exists() and not out.with_name("image.lock.json").exists()
