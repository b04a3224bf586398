"""git: the few operations mlopsctl needs, with errors a user can act on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mlopsctl.errors import EnvironmentProblem

IDENTITY_HINT = (
    'git config --global user.name "Your Name" && git config --global user.email "you@example.com"'
)


def require_git() -> str:
    git = shutil.which("git")
    if git is None:
        raise EnvironmentProblem(
            "git is not installed or not on PATH",
            "install git (e.g. `apt-get install git`) and run the command again",
        )
    return git


def require_identity(cwd: Path) -> None:
    """git commit needs an author and a committer; check before doing any work."""
    git = require_git()
    for var in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        proc = subprocess.run(
            [git, "var", var], cwd=cwd, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise EnvironmentProblem(
                "git does not know who you are (no user.name / user.email)", IDENTITY_HINT
            )


def init_repository(path: Path) -> None:
    """`git init`, on branch `main` unless the user configured init.defaultBranch."""
    git = require_git()
    configured = subprocess.run(
        [git, "config", "--get", "init.defaultBranch"], capture_output=True, text=True, check=False
    ).stdout.strip()
    cmd = [git, "init", "--quiet"]
    if not configured:
        cmd.append("--initial-branch=main")
    _run(cmd, path)


def commit_all(path: Path, message: str) -> str:
    """Stage everything (respecting .gitignore) and commit; return the commit sha."""
    git = require_git()
    _run([git, "add", "--all"], path)
    _run([git, "commit", "--quiet", "--no-verify", "-m", message], path)
    return _run([git, "rev-parse", "HEAD"], path).strip()


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        reason = detail[-1] if detail else f"exit code {proc.returncode}"
        if "tell me who you are" in proc.stderr or "unable to auto-detect" in proc.stderr:
            raise EnvironmentProblem(
                "git does not know who you are (no user.name / user.email)", IDENTITY_HINT
            )
        raise EnvironmentProblem(f"`{' '.join(cmd[1:3])}` failed: {reason}", "see git's message")
    return proc.stdout


def tracked_files(root: Path, paths: list[str]) -> list[str]:
    """The files under `paths` (relative to `root`) that git tracks."""
    if not paths:
        return []
    out = _run([require_git(), "ls-files", "-z", "--", *paths], root)
    return [p for p in out.split("\0") if p]


def staged_files(root: Path) -> list[str]:
    """Files added, copied, modified or renamed in the index (what the next commit holds)."""
    out = _run([require_git(), "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], root)
    return [p for p in out.split("\0") if p]


def stage(root: Path, paths: list[str]) -> None:
    """`git add` these paths (relative to `root`)."""
    if paths:
        _run([require_git(), "add", "--", *paths], root)
