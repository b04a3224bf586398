"""The built wheel carries the templates: `init` works from a plain (non-editable) install."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, run


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_can_init(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO_ROOT),
        ],
        tmp_path,
        check=True,
    )
    (wheel,) = dist.glob("mlopsctl-*.whl")
    # a plain (non-editable) install of the wheel; the heavy dependencies come from this
    # environment, mlopsctl itself only from the wheel's files
    site = tmp_path / "site"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        tmp_path,
        check=True,
    )
    data_home = tmp_path / "data"
    env = dict(os.environ, PYTHONPATH=str(site), XDG_DATA_HOME=str(data_home))
    work = tmp_path / "work"
    work.mkdir()
    proc = run(
        [str(site / "bin/mlopsctl"), "init", "proj", "--no-input", "--no-hooks"], work, env=env
    )
    assert proc.returncode == 0, proc.stderr
    answers = yaml.safe_load((work / "proj/.copier-answers.yml").read_text())
    # the project names the template's history (a per-user copy of the wheel's bundle) and
    # the version it was made from, so `mlopsctl update` / `copier update` work offline
    history = data_home / "mlopsctl" / "template-history" / "tabular-classification.git"
    assert Path(answers["_src_path"]).expanduser() == history
    assert answers["_commit"].startswith("v0.1.0-0-g")
    source = (history / "mlopsctl-source").read_text()
    assert source.startswith(str(site / "mlopsctl" / "template_history")), source
    assert (work / "proj/dvc.yaml").is_file()
    update = run([str(site / "bin/mlopsctl"), "update", "--dry-run"], work / "proj", env=env)
    assert update.returncode == 0, update.stderr
    assert "Up to date" in update.stdout
