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
    env = dict(os.environ, PYTHONPATH=str(site))
    work = tmp_path / "work"
    work.mkdir()
    proc = run(
        [str(site / "bin/mlopsctl"), "init", "proj", "--no-input", "--no-hooks"], work, env=env
    )
    assert proc.returncode == 0, proc.stderr
    answers = yaml.safe_load((work / "proj/.copier-answers.yml").read_text())
    template = Path(answers["_src_path"])
    assert site in template.parents, f"template came from {template}, not the wheel"
    assert (work / "proj/dvc.yaml").is_file()
