"""What the benchmark scripts share: a git identity and environment, and projects to run on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def bench_env(work: Path) -> dict[str, str]:
    return dict(os.environ, **IDENTITY, DVC_NO_ANALYTICS="1", XDG_DATA_HOME=str(work / "xdg"))


def minimal_project(root: Path, env: dict[str, str]) -> Path:
    (root / "conf").mkdir(parents=True)
    (root / "conf/config.yaml").write_text("seed: 1\n")
    (root / "dvc.yaml").write_text("stages: {}\n")
    subprocess.run(["git", "init", "-q"], cwd=root, env=env, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, env=env, check=True)
    return root


def mlopsctl() -> list[str]:
    return [sys.executable, "-m", "mlopsctl"]


def init_project(work: Path, env: dict[str, str], *args: str, name: str = "demo") -> Path:
    """`mlopsctl init NAME --no-input --no-hooks ARGS` in `work`; the project's path."""
    subprocess.run(
        [*mlopsctl(), "init", name, "--no-input", "--no-hooks", *args],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    return work / name
