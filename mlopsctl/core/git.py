"""git: the few operations mlopsctl needs, with errors a user can act on.

Every git command goes through GitPython's command runner (`git.cmd.Git`, in the folder
given) in `_execute`; its failures become our errors here and nowhere else. Commands are
plumbing with stable output (`for-each-ref`, `mktag`, `update-ref --stdin`): identity
errors stay git's own, and a ref transaction stays atomic."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
    for var in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT"):
        status, _, _ = _execute(cwd, ["var", var])
        if status != 0:
            raise EnvironmentProblem(
                "git does not know who you are (no user.name / user.email)", IDENTITY_HINT
            )


def init_repository(path: Path) -> None:
    """`git init`, on branch `main` unless the user configured init.defaultBranch."""
    configured = (git_ok(path, "config", "--get", "init.defaultBranch") or "").strip()
    cmd = ["init", "--quiet"]
    if not configured:
        cmd.append("--initial-branch=main")
    _run(cmd, path)


def commit_all(path: Path, message: str) -> str:
    """Stage everything (respecting .gitignore) and commit; return the commit sha."""
    _run(["add", "--all"], path)
    _run(["commit", "--quiet", "--no-verify", "-m", message], path)
    return _run(["rev-parse", "HEAD"], path).strip()


def commit_tracked(root: Path, message: str) -> str:
    """Commit every change to tracked files (`git add --update`), skipping hooks (mlopsctl
    ran their checks itself); return the commit sha."""
    _run(["add", "--update"], root)
    _run(["commit", "--quiet", "--no-verify", "-m", message], root)
    return _run(["rev-parse", "HEAD"], root).strip()


def git(root: Path, *args: str, stdin: str | None = None) -> str:
    """`git ARGS` in `root`; its stdout, or EnvironmentProblem with git's last line."""
    return _run(list(args), root, stdin)


def git_ok(root: Path, *args: str) -> str | None:
    """`git ARGS` when failing is an answer (no such ref, no such file): stdout or None."""
    status, out, _ = _execute(root, args)
    return out if status == 0 else None


def output(root: Path, *args: str) -> str:
    """git's stdout, stripped; "" when git fails (an unknown rev, no remote)."""
    return (git_ok(root, *args) or "").strip()


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


def untracked_files(root: Path, paths: list[str]) -> list[str]:
    """Those of `paths` that exist but git does not track (and does not ignore)."""
    if not paths:
        return []
    out = _run(["ls-files", "--others", "--exclude-standard", "-z", "--", *paths], root)
    return [p for p in out.split("\0") if p]


def show_file(root: Path, rev: str, path: str) -> str | None:
    """A file's text at a revision, or None when it does not exist there."""
    return git_ok(root, "show", f"{rev}:{path}")


def remote_names(root: Path) -> list[str]:
    return git(root, "remote").split()


def committer_ident(root: Path) -> str:
    """`Name <email> seconds tz` as git would write it now (honours GIT_COMMITTER_*)."""
    status, out, _ = _execute(root, ["var", "GIT_COMMITTER_IDENT"])
    if status != 0:
        raise EnvironmentProblem(
            "git does not know who you are (no user.name / user.email)", IDENTITY_HINT
        )
    return out.strip()


def _execute(cwd: Path, args: Sequence[str], stdin: str | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `git ARGS` in `cwd`, run by GitPython."""
    from git.cmd import Git
    from git.exc import GitCommandNotFound

    git = require_git()
    with tempfile.TemporaryFile() as stream:
        if stdin is not None:
            stream.write(stdin.encode())
            stream.seek(0)
        try:
            status, out, err = Git(str(cwd)).execute(
                [git, *args],
                istream=stream if stdin is not None else None,
                with_extended_output=True,
                with_exceptions=False,
                strip_newline_in_stdout=False,
            )
        except GitCommandNotFound as exc:
            raise EnvironmentProblem(
                f"git cannot run in {cwd}: {exc}", "check that it exists"
            ) from exc
    return int(status or 0), str(out), str(err)


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> str:
    """`git ARGS`' stdout, or an EnvironmentProblem with git's last line."""
    from mlopsctl.core.proc import output_tail
    from mlopsctl.core.urls import without_credentials

    status, out, err = _execute(cwd, args, stdin)
    if status != 0:
        if "tell me who you are" in err or "unable to auto-detect" in err:
            raise EnvironmentProblem(
                "git does not know who you are (no user.name / user.email)", IDENTITY_HINT
            )
        # git quotes a remote's URL as configured, a token in it included
        reason = without_credentials(output_tail(err) or output_tail(out) or f"exit code {status}")
        raise GitFailed(f"`git {' '.join(args[:2])}` failed: {reason}", reason)
    return out


class GitFailed(EnvironmentProblem):
    """A git command failed; `reason` is git's last line (credentials taken out)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, "see git's message")
        self.reason = reason


def tracked_files(root: Path, paths: list[str]) -> list[str]:
    """The files under `paths` (relative to `root`) that git tracks."""
    if not paths:
        return []
    out = _run(["ls-files", "-z", "--", *paths], root)
    return [p for p in out.split("\0") if p]


def staged_files(root: Path) -> list[str]:
    """Files added, copied, modified or renamed in the index (what the next commit holds)."""
    out = _run(["diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR"], root)
    return [p for p in out.split("\0") if p]


def stage(root: Path, paths: list[str]) -> None:
    """`git add` these paths (relative to `root`)."""
    if paths:
        _run(["add", "--", *paths], root)


@contextmanager
def index_kept(root: Path) -> Iterator[None]:
    """What is staged stays staged across a tool that resets git's index (`dvc exp run`
    does): the index is saved as a tree and read back afterwards, if HEAD did not move."""
    staged = git_ok(root, "diff", "--cached", "--name-only")
    tree = git_ok(root, "write-tree") if staged and staged.strip() else None
    head = output(root, "rev-parse", "--verify", "--quiet", "HEAD")
    try:
        yield
    finally:
        if tree and output(root, "rev-parse", "--verify", "--quiet", "HEAD") == head:
            git_ok(root, "read-tree", tree.strip())
