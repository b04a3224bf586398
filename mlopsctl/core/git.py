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
    configured = (git_ok(path, "config", "--get", "init.defaultBranch") or "").strip()
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


def git(root: Path, *args: str, stdin: str | None = None) -> str:
    """`git ARGS` in `root`; its stdout, or EnvironmentProblem with git's last line."""
    return _run([require_git(), *args], root, stdin)


def git_ok(root: Path, *args: str) -> str | None:
    """`git ARGS` when failing is an answer (no such ref, no such file): stdout or None."""
    proc = subprocess.run(
        [require_git(), *args], cwd=root, capture_output=True, text=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else None


def toplevel(start: Path) -> Path:
    out = git_ok(start, "rev-parse", "--show-toplevel")
    if out is None:
        raise EnvironmentProblem(
            f"{start} is not inside a git repository", "cd into a project made by `mlopsctl init`"
        )
    return Path(out.strip())


def head_commit(root: Path) -> str | None:
    """The sha of HEAD, or None in a repository with no commits yet."""
    out = git_ok(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return out.strip() if out else None


def current_branch(root: Path) -> str | None:
    """The checked-out branch, or None when HEAD is detached."""
    out = git_ok(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    return out.strip() if out else None


def changed_files(root: Path) -> list[str]:
    """Tracked files that differ from HEAD (staged or not); untracked files do not count."""
    out = git(root, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in out.splitlines() if line.strip()]


def show_file(root: Path, rev: str, path: str) -> str | None:
    """A file's text at a revision, or None when it does not exist there."""
    return git_ok(root, "show", f"{rev}:{path}")


def remote_names(root: Path) -> list[str]:
    return git(root, "remote").split()


def committer_ident(root: Path) -> str:
    """`Name <email> seconds tz` as git would write it now (honours GIT_COMMITTER_*)."""
    proc = subprocess.run(
        [require_git(), "var", "GIT_COMMITTER_IDENT"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise EnvironmentProblem(
            "git does not know who you are (no user.name / user.email)", IDENTITY_HINT
        )
    return proc.stdout.strip()


def _run(cmd: list[str], cwd: Path, stdin: str | None = None) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, input=stdin)
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
