"""Lineage: everything that made a model version, recorded as JSON in its registry tag."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import files
from mlopsctl.core import git as vcs
from mlopsctl.core.pipeline.metrics import read_metrics

LINEAGE_FORMAT = 2  # 2: params_sha256 hashes params.yaml's bytes (1: canonical JSON)


@dataclass
class Lineage:
    artifact: str
    path: str
    commit: str
    model_md5: str | None
    model_sha256: str | None
    data: dict[str, str]  # DVC-tracked inputs (not in git) -> DVC md5
    params_sha256: str | None  # of params.yaml's bytes (= image label io.mlopsctl.params.sha256)
    params: dict[str, Any]
    metrics: dict[str, Any]
    mlopsctl_version: str | None  # None when read from a commit mlopsctl did not record
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        extra = values.pop("extra")
        return {"format": LINEAGE_FORMAT, **values, **extra}


def build_lineage(root: Path, artifact: str, path: str, commit: str) -> Lineage:
    """Read the lineage of `commit` from git (dvc.lock, params.yaml), DVC's metrics at that
    commit, and the model's bytes (workspace or DVC cache, whichever matches dvc.lock)."""
    from mlopsctl import __version__
    from mlopsctl.core.project import Project

    project = Project(root)
    lock = project.read_yaml("dvc.lock", commit)
    tracked = set(vcs.git(root, "ls-tree", "-r", "--name-only", commit).splitlines())
    data: dict[str, str] = {}
    model_md5 = None
    for stage in (lock.get("stages") or {}).values():
        for dep in stage.get("deps") or []:
            dep_path, md5 = str(dep.get("path")), dep.get("md5")
            if md5 and dep_path not in tracked and dep_path != path:
                data[dep_path] = str(md5)
        for out in stage.get("outs") or []:
            if out.get("path") == path:
                model_md5 = out.get("md5")
    params_text = vcs.show_file(root, commit, "params.yaml")
    params = project.params(commit)
    return Lineage(
        artifact=artifact,
        path=path,
        commit=commit,
        model_md5=model_md5,
        model_sha256=model_sha256(root, path, model_md5),
        data=dict(sorted(data.items())),
        params_sha256=params_file_sha256(params_text),
        params=params if isinstance(params, dict) else {},
        metrics=read_metrics(root, commit),
        mlopsctl_version=__version__,
    )


def params_file_sha256(text: str | None) -> str | None:
    """sha256 of params.yaml's bytes: the value of the image's io.mlopsctl.params.sha256."""
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else None


def file_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, read once."""
    found = files.file_digests(path, "md5", "sha256")
    return found["md5"], found["sha256"]


def model_sha256(root: Path, path: str, md5: str | None) -> str | None:
    """sha256 of the model dvc.lock names: the workspace copy if it is that one, else the
    DVC cache's; None when neither holds it (or it is a directory)."""
    if md5 is None or md5.endswith(".dir"):
        return None
    workspace = root / path
    if workspace.is_file():
        found_md5, sha = file_digests(workspace)
        if found_md5 == md5:
            return sha
    from mlopsctl.core.dvcrepo import open_repo

    with open_repo(root) as repo:
        cached = Path(repo.cache.local.oid_to_path(md5))
    return file_digests(cached)[1] if cached.is_file() else None
