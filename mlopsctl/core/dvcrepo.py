"""DVC: set up a project's data versioning in-process; run pipelines as a `dvc` subprocess."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from mlopsctl.core.proc import Completed
from mlopsctl.errors import EnvironmentProblem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from dvc.repo import Repo

DEFAULT_REMOTE = "default"


def dvc_env() -> dict[str, str]:
    """The environment for a dvc subprocess: no analytics, no update nagging."""
    env = dict(os.environ)
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("DVC_NO_UPDATE_CHECK", "1")
    return env


def dvc_command(args: Sequence[str]) -> list[str]:
    """`dvc ARGS` run by this interpreter, so the dvc that runs is the one mlopsctl imports."""
    return [sys.executable, "-m", "dvc", *args]


def is_local_url(url: str) -> bool:
    scheme = urlparse(url).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def normalise_remote_url(url: str, base: Path) -> str:
    """A local remote is stored as an absolute path: `--remote ../store` means from here."""
    if not is_local_url(url):
        return url
    path = Path(urlparse(url).path if url.startswith("file:") else url).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def require_remote_support(url: str) -> None:
    """Fail before any work when DVC lacks the plugin for the remote's scheme (dvc-s3, ...)."""
    from dvc.config import Config
    from dvc.fs import RemoteMissingDepsError, get_cloud_fs

    try:
        get_cloud_fs(Config.from_cwd(validate=False), url=url)
    except RemoteMissingDepsError as exc:
        scheme = urlparse(url).scheme
        raise EnvironmentProblem(
            f"DVC cannot use {scheme}:// remotes in this environment",
            f"pip install 'dvc[{scheme}]' (or dvc-{scheme}) and run the command again",
        ) from exc
    except Exception as exc:  # DVC's own config validation
        raise EnvironmentProblem(f"DVC rejects the remote {url!r}: {exc}", "check the URL") from exc


@contextmanager
def quiet_dvc(
    progress: bool = False, warnings: bool = True, errors: list[str] | None = None
) -> Iterator[None]:
    """In-process DVC logs and prints for its own CLI; mlopsctl renders its own output.

    `progress` keeps DVC's progress bars (hashing, transfers); they draw only on a TTY.
    `warnings=False` drops DVC's warnings too, for callers that report the outcome.
    `errors`, when given, collects DVC's error messages instead of printing them (for a
    caller that turns them into its own one-line error)."""
    import logging

    from dvc.ui import ui

    logger = logging.getLogger("dvc")
    level, enabled = logger.level, ui._enabled
    logger.setLevel(logging.INFO if progress else logging.WARNING)
    ui._enabled = False

    def shown(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and errors is not None:
            cause = record.exc_info[1] if record.exc_info else None
            errors.append(record.getMessage() + (f" - {cause}" if cause else ""))
            return False
        return record.levelno >= logging.ERROR or warnings

    errors_only = logging.Filter()
    errors_only.filter = shown  # type: ignore[method-assign]
    handlers = [] if warnings and errors is None else list(logger.handlers)
    for handler in handlers:
        handler.addFilter(errors_only)
    try:
        yield
    finally:
        logger.setLevel(level)
        ui._enabled = enabled
        for handler in handlers:
            handler.removeFilter(errors_only)


@contextmanager
def open_repo(
    root: Path, progress: bool = False, warnings: bool = True, errors: list[str] | None = None
) -> Iterator[Repo]:
    from dvc.repo import Repo

    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    with quiet_dvc(progress, warnings, errors), Repo(str(root)) as repo:
        yield repo


def init_project_dvc(root: Path, remote_url: str) -> None:
    """`dvc init` in a git repository, analytics off, `remote_url` the default remote."""
    from dvc.repo import Repo

    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    with quiet_dvc():
        repo = Repo.init(str(root))
    try:
        with repo.config.edit() as conf:
            conf["core"]["analytics"] = False
            conf["core"]["remote"] = DEFAULT_REMOTE
            conf["remote"][DEFAULT_REMOTE] = {"url": remote_url}
    finally:
        repo.close()


def add_and_push(root: Path, targets: Sequence[str]) -> dict[str, Any]:
    """Track `targets` with DVC and push them to the default remote.

    Returns what was pushed; a remote that cannot be reached raises EnvironmentProblem."""
    paths = [str(root / target) for target in targets]
    with open_repo(root) as repo:
        repo.add(paths)
        try:
            pushed = repo.push(targets=paths)
        except Exception as exc:
            raise EnvironmentProblem(
                f"could not push data to the DVC remote: {exc}",
                "check that the remote exists and is reachable (`dvc remote list`), "
                "then run `dvc push`",
            ) from exc
    return {"pushed": pushed}


def run_dvc(args: Sequence[str], cwd: Path) -> Completed:
    """Run `dvc ARGS` as a subprocess (DVC's own lock, logging and Ctrl-C), output captured."""
    from mlopsctl.core import proc

    return proc.run(dvc_command(args), cwd=cwd, env=dvc_env())


def push_all(root: Path) -> int:
    """Push everything the workspace's DVC files reference to the default remote."""
    with open_repo(root) as repo:
        try:
            return int(repo.push())
        except Exception as exc:
            raise EnvironmentProblem(
                f"could not push to the DVC remote: {exc}",
                "check that the remote exists and is reachable (`dvc remote list`), "
                "then run `dvc push`",
            ) from exc


def clear_dead_rwlock_entries(root: Path) -> list[int]:
    """Drop entries of processes that are gone from DVC's `.dvc/tmp/rwlock`.

    DVC skips entries of vanished PIDs itself, but a killed dvc whose parent died too can
    linger as a zombie (where nothing reaps orphans, as in containers), and DVC then
    reports its outputs as busy forever. Call only while holding the project lock."""
    import json

    import psutil

    path = root / ".dvc" / "tmp" / "rwlock"
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return []

    def alive(info: dict[str, Any]) -> bool:
        try:
            return bool(psutil.Process(int(info["pid"])).status() != psutil.STATUS_ZOMBIE)
        except (psutil.Error, KeyError, ValueError, TypeError):
            return False

    dead: set[int] = set()
    writes = {}
    for out, info in (lock.get("write") or {}).items():
        if alive(info):
            writes[out] = info
        else:
            dead.add(int(info.get("pid", -1)))
    reads = {}
    for out, infos in (lock.get("read") or {}).items():
        keep = [i for i in infos if alive(i)]
        dead.update(int(i.get("pid", -1)) for i in infos if i not in keep)
        if keep:
            reads[out] = keep
    if dead:
        from mlopsctl.core.files import write_atomic

        write_atomic(path, json.dumps({"write": writes, "read": reads}))
    return sorted(dead)


@dataclass
class PipelineState:
    """What DVC says about a revision: stage names, `dvc status`, what the remote lacks."""

    stages: list[str]
    status: dict[str, Any] | None  # `dvc status` of the workspace; None for another revision
    remote: str | None  # the default remote's name, None when there is none
    not_pushed: list[str]


def pipeline_state(root: Path, rev: str | None = None) -> PipelineState:
    """`dvc status` and `dvc status --cloud` of the workspace (rev None) or of a commit
    (only the remote part: DVC cannot check a commit's pipeline without checking it out)."""
    with open_repo(root) as repo:
        stages = [stage.name for stage in repo.index.stages if getattr(stage, "name", None)]
        status = repo.status() if rev is None else None
        remote = repo.config["core"].get("remote")
        not_pushed: list[str] = []
        if remote:
            try:
                if rev is None:
                    # "deleted": in the remote, not in the local cache (a fresh clone): pushed
                    cloud = repo.status(cloud=True)
                    not_pushed = sorted(k for k, v in cloud.items() if v in ("new", "missing"))
                else:
                    used = repo.used_objs(revs=[rev], force=True, push=True)
                    for odb, ids in used.items():
                        if odb is None:
                            cloud = repo.cloud.status(ids)
                            not_pushed += sorted(
                                h.obj_name or h.value for h in cloud.new | cloud.missing
                            )
            except Exception as exc:
                not_pushed = [f"remote {remote!r} unreachable ({exc})"]
    return PipelineState(stages, status, remote, not_pushed)


def read_dvc_remotes(root: Path) -> tuple[dict[str, str], str | None]:
    """The remotes of .dvc/config and .dvc/config.local (name -> url) and the default one,
    read as the INI files they are (importing DVC costs a second)."""
    import configparser
    import re

    parser = configparser.ConfigParser(interpolation=None)
    parser.read([root / ".dvc" / "config", root / ".dvc" / "config.local"], encoding="utf-8")
    remotes: dict[str, str] = {}
    for section in parser.sections():
        match = re.fullmatch(r"""'?remote "(.+)"'?""", section.strip())
        if match and parser.has_option(section, "url"):
            remotes[match.group(1)] = parser.get(section, "url")
    default = parser.get("core", "remote", fallback=None)
    return remotes, default
