"""Lineage: everything that made a model version, recorded as JSON in its registry tag."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.pipeline.metrics import read_metrics

LINEAGE_FORMAT = 1


@dataclass
class Lineage:
    artifact: str
    path: str
    commit: str
    model_md5: str | None
    model_sha256: str | None
    data: dict[str, str]  # DVC-tracked inputs (not in git) -> DVC md5
    params_sha256: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    mlopsctl_version: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        extra = values.pop("extra")
        return {"format": LINEAGE_FORMAT, **values, **extra}


def build_lineage(root: Path, artifact: str, path: str, commit: str) -> Lineage:
    """Read the lineage of `commit` from git (dvc.lock, params.yaml), DVC's metrics at that
    commit, and the model's bytes (workspace or DVC cache, whichever matches dvc.lock)."""
    from mlopsctl import __version__
    from mlopsctl.core.files import load_yaml

    lock = load_yaml(vcs.show_file(root, commit, "dvc.lock") or "", "dvc.lock") or {}
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
    params = load_yaml(vcs.show_file(root, commit, "params.yaml") or "", "params.yaml") or {}
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return Lineage(
        artifact=artifact,
        path=path,
        commit=commit,
        model_md5=model_md5,
        model_sha256=model_sha256(root, path, model_md5),
        data=dict(sorted(data.items())),
        params_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        params=params if isinstance(params, dict) else {},
        metrics=read_metrics(root, commit),
        mlopsctl_version=__version__,
    )


def file_digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file, read once."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


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
