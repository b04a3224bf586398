"""Data versioning on DVC: add files to a project, see what changed, push to and pull from
its remote. DVC runs in-process (one Repo per call); its errors become mlopsctl's."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core import git as vcs
from mlopsctl.core.dvcrepo import is_local_url, open_repo
from mlopsctl.core.urls import without_credentials
from mlopsctl.errors import BadInput, EnvironmentProblem

if TYPE_CHECKING:
    from dvc.repo import Repo


@dataclass
class AddResult:
    added: list[str]
    staged: list[str]


@dataclass
class DataStatus:
    remote: str
    # data changed in the workspace since the last `data add` (by kind: modified, added, ...)
    workspace: dict[str, list[str]] = field(default_factory=dict)
    # data added since the last git commit: commit the staged .dvc files
    uncommitted: dict[str, list[str]] = field(default_factory=dict)
    not_in_cache: list[str] = field(default_factory=list)
    not_in_remote: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.workspace or self.uncommitted or self.not_in_cache or self.not_in_remote)


@dataclass
class TransferResult:
    remote: str
    url: str
    files: int
    # pipeline outputs that no remote has yet: `dvc repro` makes them
    not_pulled: list[str] = field(default_factory=list)


def add_data(root: Path, paths: Sequence[Path], progress: bool = False) -> AddResult:
    """Track files or folders with DVC and stage their .dvc pointers and .gitignore in git."""
    from dvc.exceptions import DvcException
    from dvc.lock import LockError

    targets = [_data_target(root, path) for path in paths]
    in_git = vcs.tracked_files(root, targets)
    if in_git:
        shown = " ".join(sorted({_top(t, in_git) for t in targets if _top(t, in_git)}))
        raise BadInput(
            f"{shown} {'is' if len(in_git) == 1 else 'are'} tracked by git "
            f"({len(in_git)} file{'s' if len(in_git) != 1 else ''}): DVC cannot track them too",
            f'stop tracking in git first: git rm -r --cached {shown} && git commit -m "Move '
            f'{shown} to DVC", then run `mlopsctl data add {shown}` again',
        )
    dvc_errors: list[str] = []
    with open_repo(root, progress=progress, errors=dvc_errors) as repo:
        # with the default cache (reflink, else copy) the workspace file already equals the
        # cached copy: copying it back ("relink") would write the data a second time
        relink = bool(repo.config.get("cache", {}).get("type"))
        _remove_partial_files(repo, [root / t for t in targets])
        # what DVC writes besides the cache, to put back if the data did not reach the cache
        written = [root / f"{t}.dvc" for t in targets]
        written += sorted({(root / t).parent / ".gitignore" for t in targets})
        saved = {path: path.read_bytes() if path.is_file() else None for path in written}
        try:
            stages = repo.add([str(root / t) for t in targets], relink=relink)
        except LockError as exc:  # a running pipeline (or dvc) uses the project or the file
            raise EnvironmentProblem(
                f"DVC is busy with this project (a pipeline running?): {_first_line(exc)}",
                f"wait for the run to finish, then `mlopsctl data add {' '.join(targets)}` again",
            ) from exc
        except DvcException as exc:
            raise BadInput(
                f"DVC cannot track {' '.join(targets)}: {_first_line(exc)}",
                "see `dvc status` and dvc.yaml: a stage output is tracked "
                "by its stage, not by `data add`",
            ) from exc
        # DVC logs a failed transfer into the cache (a full disk) and carries on: check
        lacking = set(repo.data_status(granular=False)["not_in_cache"]) & set(targets)
        if lacking:
            for path, content in saved.items():
                if content is None:
                    path.unlink(missing_ok=True)
                else:
                    path.write_bytes(content)
            why = dvc_errors[0].rsplit(" - ", 1)[-1] if dvc_errors else "is the disk full?"
            raise EnvironmentProblem(
                f"DVC could not store {', '.join(sorted(lacking))} in its cache: {why}",
                "free some space, then run `mlopsctl data add` again; nothing was staged",
            )
        staged = sorted(
            {
                os.path.relpath(path, root)
                for stage in stages
                for path in (stage.path, os.path.join(os.path.dirname(stage.path), ".gitignore"))
                if os.path.exists(path)
            }
        )
    vcs.stage(root, staged)
    return AddResult(added=targets, staged=staged)


# DVC writes through `.<22 url-safe chars>.tmp` beside the destination, then renames
_PARTIAL = re.compile(r"^\.[A-Za-z0-9_-]{22}\.tmp$")


def _remove_partial_files(repo: Repo, targets: list[Path]) -> None:
    """Partial files a killed DVC left in the cache and beside `targets`: removed while DVC's
    repository lock is held (no other DVC writes then, so none is in progress)."""
    cache = Path(repo.cache.local.path)
    with repo.lock:
        found = list(cache.rglob(".*.tmp")) if cache.is_dir() else []
        for folder in {t.parent for t in targets}:
            found += folder.glob(".*.tmp") if folder.is_dir() else []
        for path in found:
            if _PARTIAL.match(path.name) and path.is_file():
                path.unlink(missing_ok=True)


def _data_target(root: Path, path: Path) -> str:
    full = (path if path.is_absolute() else Path.cwd() / path).resolve()
    try:
        rel = full.relative_to(root.resolve())
    except ValueError as exc:
        raise BadInput(
            f"{path} is outside the project {root}",
            "copy or move the data into the project (e.g. under data/) and add it there",
        ) from exc
    if not full.exists():
        raise BadInput(f"{path}: no such file or folder", "check the path")
    if rel == Path(".") or rel.parts[0] in (".git", ".dvc") or full.name.endswith(".dvc"):
        raise BadInput(f"{path} is not data", "give the data files or folders to track")
    return rel.as_posix()


def _top(target: str, in_git: list[str]) -> str:
    return target if any(f == target or f.startswith(target + "/") for f in in_git) else ""


def data_status(root: Path, remote: str | None = None) -> DataStatus:
    """What changed in the workspace and what the remote does not have yet."""
    with open_repo(root) as repo:
        name, _url = resolve_remote(repo, remote, must_exist=True)
        try:
            # DVC's status counts everything as "not in remote" when the remote cannot be
            # reached at all: ask the remote first, so that is an error, not an answer
            odb = repo.cloud.get_remote_odb(name)
            odb.fs.exists(odb.path)
            status = repo.data_status(not_in_remote=True, remote_refresh=True, remote=name)
        except Exception as exc:
            raise _unreachable(name, exc) from exc
    return DataStatus(
        remote=name,
        workspace={k: sorted(v) for k, v in status["uncommitted"].items() if v},
        uncommitted={k: sorted(v) for k, v in status["committed"].items() if v},
        not_in_cache=sorted(status["not_in_cache"]),
        not_in_remote=sorted(status["not_in_remote"]),
    )


def push_data(root: Path, remote: str | None = None, progress: bool = False) -> TransferResult:
    """Push what the workspace's .dvc files and dvc.lock reference to the remote."""
    with open_repo(root, progress=progress) as repo:
        name, url = resolve_remote(repo, remote, must_exist=True)
        try:
            files = int(repo.push(remote=name))
        except Exception as exc:
            raise _unreachable(name, exc) from exc
    return TransferResult(remote=name, url=url, files=files)


def pull_data(root: Path, remote: str | None = None, progress: bool = False) -> TransferResult:
    """Pull the project's data from the remote; pipeline outputs no remote has are listed,
    not an error (`dvc repro` makes them), but data the remote lacks is."""
    from dvc.exceptions import CheckoutError, DvcException

    # DVC warns about each missing output; what is missing is reported below instead
    with open_repo(root, progress=progress, warnings=False) as repo:
        name, url = resolve_remote(repo, remote, must_exist=True)
        try:
            result = repo.pull(remote=name, allow_missing=True)
        except CheckoutError as exc:
            raise BadInput(
                f"pulling would overwrite data changed in the workspace: {_first_line(exc)}",
                "keep the changes with `mlopsctl data add PATH`, or discard them with "
                "`dvc checkout --force PATH`, then pull again",
            ) from exc
        except DvcException as exc:
            raise _unreachable(name, exc) from exc
        except OSError as exc:
            raise _unreachable(name, exc) from exc
        missing = set(repo.data_status(granular=False)["not_in_cache"])
        data_paths = {
            os.path.relpath(out.fs_path, root)
            for stage in repo.index.stages
            if stage.is_data_source
            for out in stage.outs
        }
    lacking = sorted(missing & data_paths)
    if lacking:
        raise EnvironmentProblem(
            f"the DVC remote {name!r} ({url}) lacks {', '.join(lacking)}",
            "push it from the clone that has it (`mlopsctl data push`), or choose another "
            "remote with --remote",
        )
    return TransferResult(
        remote=name,
        url=url,
        files=int(result.get("stats", {}).get("fetched", 0)),
        not_pulled=sorted(missing - data_paths),
    )


def resolve_remote(repo: Repo, remote: str | None, must_exist: bool) -> tuple[str, str]:
    """The remote's name and URL; a remote that is not configured, or a local one whose
    folder does not exist (when `must_exist`), is an environment problem (exit 3)."""
    remotes: dict[str, Any] = dict(repo.config.get("remote", {}))
    name = remote or repo.config.get("core", {}).get("remote")
    if not name:
        raise EnvironmentProblem(
            "the project has no default DVC remote",
            "add one: dvc remote add -d storage s3://bucket/path (or a folder path), "
            "or name one with --remote",
        )
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none"
        raise EnvironmentProblem(
            f"no DVC remote named {name!r} (configured: {known})",
            f"add it: dvc remote add {name} URL, or pick a configured one with --remote",
        )
    url = str(remotes[name].get("url", ""))
    if must_exist and is_local_url(url) and not Path(_local_path(url)).is_dir():
        raise EnvironmentProblem(
            f"the DVC remote {name!r} is a folder that does not exist: {without_credentials(url)}",
            f"mount or restore it (a new remote: mkdir -p {_local_path(url)}), or point the "
            f"remote elsewhere: dvc remote modify {name} url NEW_URL",
        )
    return name, without_credentials(url)


def _local_path(url: str) -> str:
    return url[len("file://") :] if url.startswith("file://") else url


def _unreachable(name: str, exc: BaseException) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"the DVC remote {name!r} cannot be reached: {_first_line(exc)}",
        "check the remote (`dvc remote list`), its credentials and the network, then retry; "
        "nothing half-written is left in the cache",
    )


def _first_line(exc: BaseException) -> str:
    text = without_credentials(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__
