"""The templates' history as a git repository, so copier can update a project three ways.

A history holds one commit per change of `templates/<name>` on the first-parent line of
mlopsctl's own repository, and a tag `v<version>` on the last commit of each mlopsctl
version. Its commit objects are written from the source commits' own authors, dates and
trees, so the same source gives the same hashes on every machine and in every build.

Where a history comes from, first found wins:
  1. `$MLOPSCTL_TEMPLATE_HISTORY/<name>.bundle` or `$MLOPSCTL_TEMPLATE_HISTORY/<name>` (a
     git repository): another history, for tests and for template authors;
  2. `mlopsctl/template_history/<name>.bundle` in the installed wheel (made at build time by
     hatch_build.py from the repository, with `build_history` below);
  3. the repository of a source checkout (editable install): built from its git history.
Every use fetches it into one bare repository per user (`copy_dir()`), which keeps the
tags of every mlopsctl that ran there; a project's `_src_path` names that repository.

`build_history` takes its git runner as an argument and imports only the standard library,
so the build hook runs it without mlopsctl's dependencies."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path

# (cwd, git arguments, stdin) -> stdout; raises when git fails
Runner = Callable[[Path, list[str], "str | None"], str]

HISTORY_ENV = "MLOPSCTL_TEMPLATE_HISTORY"
BRANCH = "refs/heads/main"
VERSION_FILE = "mlopsctl/__init__.py"
_VERSION_RE = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_FIELDS = ("sha", "an", "ae", "ad", "cn", "ce", "cd", "subject")


def build_history(source: Path, template: str, dest: Path, run: Runner) -> str | None:
    """Write the history of `templates/<template>` in the git repository `source` into the
    bare repository `dest` (which must see `source`'s objects, e.g. through alternates).
    Returns the tip's sha, or None when the template has no commits."""
    log = run(
        source,
        [
            "log",
            "--first-parent",
            "--reverse",
            "--date=raw",
            "--format=" + "%x00".join(["%H", "%an", "%ae", "%ad", "%cn", "%ce", "%cd", "%s"]),
            "HEAD",
        ],
        None,
    )
    commits = [dict(zip(_FIELDS, line.split("\0"), strict=True)) for line in log.splitlines()]
    if not commits:
        return None
    trees = _object_names(source, [f"{c['sha']}:templates/{template}" for c in commits], run)
    version_blobs = _object_names(source, [f"{c['sha']}:{VERSION_FILE}" for c in commits], run)
    versions: dict[str, str] = {}
    parent: str | None = None
    last_tree: str | None = None
    tags: dict[str, str] = {}
    for commit, tree, blob in zip(commits, trees, version_blobs, strict=True):
        if tree is None or tree == last_tree:
            continue
        version = _version(source, blob, versions, run)
        body = f"tree {tree}\n"
        if parent:
            body += f"parent {parent}\n"
        body += f"author {commit['an']} <{commit['ae']}> {commit['ad']}\n"
        body += f"committer {commit['cn']} <{commit['ce']}> {commit['cd']}\n\n"
        body += f"{commit['subject']}\n\nmlopsctl {version}, from {commit['sha']}\n"
        parent = run(dest, ["hash-object", "-t", "commit", "-w", "--stdin"], body).strip()
        last_tree = tree
        if version:
            tags[version] = parent
    if parent is None:
        return None
    for version, sha in tags.items():
        run(dest, ["update-ref", f"refs/tags/v{version}", sha], None)
    run(dest, ["update-ref", BRANCH, parent], None)
    run(dest, ["symbolic-ref", "HEAD", BRANCH], None)
    return parent


def _object_names(source: Path, names: list[str], run: Runner) -> list[str | None]:
    """`rev:path` -> object sha, None where the path does not exist at that commit."""
    out = run(source, ["cat-file", "--batch-check=%(objectname)"], "\n".join(names) + "\n")
    return [None if line.endswith(" missing") else line for line in out.splitlines()]


def _version(source: Path, blob: str | None, seen: dict[str, str], run: Runner) -> str:
    if blob is None:
        return ""
    if blob not in seen:
        found = _VERSION_RE.search(run(source, ["cat-file", "blob", blob], None))
        seen[blob] = found.group(1) if found else ""
    return seen[blob]


def source_key(path: Path, run: Runner) -> str:
    """What a history source is now: its refs (a repository) or its bytes (a bundle)."""
    if path.is_file():
        return f"{path}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
    refs = run(path, ["for-each-ref", "--format=%(objectname) %(refname)"], None)
    head = run(path, ["rev-parse", "HEAD"], None)
    return f"{path}:{hashlib.sha256((refs + head).encode()).hexdigest()}"


def override_source(template: str) -> Path | None:
    """The history named by $MLOPSCTL_TEMPLATE_HISTORY, if any."""
    folder = os.environ.get(HISTORY_ENV)
    if not folder:
        return None
    for candidate in (Path(folder) / f"{template}.bundle", Path(folder) / template):
        if candidate.exists():
            return candidate
    return None


# --- at run time (mlopsctl's own git runner; imports inside, as the build hook loads this file)


def copy_dir() -> Path:
    """The one bare repository per template and user that projects' `_src_path` names."""
    import platformdirs

    return Path(platformdirs.user_data_dir("mlopsctl")) / "template-history"


def portable(path: Path) -> str:
    """`path` as a project records it: under the home folder as `~/...` (copier expands it),
    so a clone on another machine or for another user finds that user's copy."""
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def synced_history(template: str) -> Path:
    """The user's bare repository of `template`'s history, brought up to date with the
    installed mlopsctl's (see the module docstring); EnvironmentProblem when there is none."""
    import fcntl
    import shutil
    import tempfile

    from mlopsctl.core import git as vcs
    from mlopsctl.errors import EnvironmentProblem

    run = _vcs_runner()
    repo = copy_dir() / f"{template}.git"
    repo.parent.mkdir(parents=True, exist_ok=True)
    source = override_source(template) or _packaged_bundle(template)
    checkout = None if source is not None else _source_checkout(template)
    if source is None and checkout is None:
        raise EnvironmentProblem(
            f"the history of template {template!r} is missing from mlopsctl's installation",
            "reinstall mlopsctl from a wheel (pip install --force-reinstall mlopsctl)",
        )
    with open(repo.parent / f"{template}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if source is not None:
            key = source_key(source, run)
        else:
            assert checkout is not None
            key = f"{checkout}:{vcs.output(checkout, 'rev-parse', 'HEAD')}"
        key_file = repo / "mlopsctl-source"
        if key_file.is_file() and key_file.read_text(encoding="utf-8") == key:
            return repo
        if not (repo / "HEAD").is_file():
            vcs.git(repo.parent, "init", "--quiet", "--bare", str(repo))
        built = None
        try:
            if source is None:
                assert checkout is not None
                built = Path(tempfile.mkdtemp(prefix="mlopsctl-history-"))
                vcs.git(built, "init", "--quiet", "--bare", ".")
                common = vcs.output(checkout, "rev-parse", "--git-common-dir")
                objects = (checkout / common / "objects").resolve()
                (built / "objects" / "info" / "alternates").write_text(f"{objects}\n")
                if build_history(checkout, template, built, run) is None:
                    raise EnvironmentProblem(
                        f"templates/{template} has no commits in {checkout}",
                        "commit the template, or install mlopsctl from a wheel",
                    )
                source = built
            vcs.git(
                repo,
                "fetch",
                "--quiet",
                "--no-tags",
                str(source),
                f"+{BRANCH}:{BRANCH}",
                "+refs/tags/*:refs/tags/*",
            )
            vcs.git(repo, "symbolic-ref", "HEAD", BRANCH)
        finally:
            if built is not None:
                shutil.rmtree(built, ignore_errors=True)
        key_file.write_text(key, encoding="utf-8")
    return repo


def version_ref(repo: Path, version: str) -> str | None:
    """The tag of mlopsctl `version` ("0.2.0" or "v0.2.0") in `repo`, if it has one."""
    from mlopsctl.core import git as vcs

    tag = version if version.startswith("v") else f"v{version}"
    return (
        tag if vcs.git_ok(repo, "rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}") else None
    )


def exact_commit(repo: Path, rev: str) -> str | None:
    """`rev` as copier records `_commit`, in the form that names one commit for good
    (`v0.1.0-0-g1234567890ab`: a moved tag cannot change it); None if `rev` is unknown.
    A commit no version tag is behind (a project made by an unreleased mlopsctl, whose
    version's tag has since moved on to a later commit) is its full hash."""
    from mlopsctl.core import git as vcs

    sha = vcs.output(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if not sha:
        return None
    return vcs.output(repo, "describe", "--tags", "--long", "--abbrev=12", sha) or sha


def versions(repo: Path) -> list[str]:
    from mlopsctl.core import git as vcs

    return vcs.output(repo, "tag", "--list", "v*", "--sort=v:refname").split()


def _vcs_runner() -> Runner:
    from mlopsctl.core import git as vcs

    return lambda cwd, args, stdin: vcs.git(cwd, *args, stdin=stdin)


def _packaged_bundle(template: str) -> Path | None:
    bundle = Path(__file__).resolve().parents[1] / "template_history" / f"{template}.bundle"
    return bundle if bundle.is_file() else None


def _source_checkout(template: str) -> Path | None:
    """mlopsctl's own repository, when this is an editable install of a checkout."""
    root = Path(__file__).resolve().parents[2]
    if (root / ".git").exists() and (root / "templates" / template).is_dir():
        return root
    return None
