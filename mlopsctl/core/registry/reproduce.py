"""`mlopsctl reproduce NAME@vX.Y.Z|NAME#STAGE`: rebuild a registered model from scratch in a
temporary git worktree, with its data pulled from the DVC remote, and compare."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.dvcrepo import run_dvc
from mlopsctl.core.pipeline.metrics import read_metrics
from mlopsctl.core.project import Project
from mlopsctl.core.registry import state as states
from mlopsctl.core.registry.lineage import build_lineage, file_digests
from mlopsctl.core.registry.promote import model_name, open_registry
from mlopsctl.core.registry.tags import record_from_message
from mlopsctl.errors import CheckFailed, EnvironmentProblem, MlopsctlError


@dataclass(frozen=True)
class Difference:
    what: str
    registered: Any
    rebuilt: Any


@dataclass
class ReproduceResult:
    name: str
    version: str
    commit: str
    path: str
    registered_sha256: str | None
    rebuilt_sha256: str | None
    registered_metrics: dict[str, Any]
    rebuilt_metrics: dict[str, Any]
    differences: list[Difference] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def reproduce(
    project: Project, ref: str, progress: Callable[[str], None] = lambda step: None
) -> ReproduceResult:
    from mlopsctl.core.python_env import require_project_python

    open_registry(project)
    root = project.root
    resolved = states.resolve(root, ref)
    name, path = model_name(project, resolved.name, resolved.commit)
    tag = states.registration(resolved.state, resolved.version)
    record = record_from_message(tag.message) if tag else None
    if record is None:  # registered by another tool: what its commit says
        record = build_lineage(root, name, path, resolved.commit).to_dict()
    require_project_python()

    workdir = Path(tempfile.mkdtemp(prefix=f"mlopsctl-reproduce-{name}-"))
    tree = workdir / "tree"
    try:
        progress(f"checking out {resolved.commit[:8]} in a temporary worktree")
        vcs.git(root, "worktree", "add", "--detach", "--quiet", str(tree), resolved.commit)
        local_config = root / ".dvc" / "config.local"
        if local_config.is_file():  # a remote configured only on this machine
            shutil.copy2(local_config, tree / ".dvc" / "config.local")
        data = [f for f in vcs.git(tree, "ls-files", "*.dvc").splitlines() if f]
        if data:
            progress("pulling the data from the DVC remote")
            _dvc(["pull", *data], tree, EnvironmentProblem, "could not pull the data")
        progress("running the pipeline from scratch (dvc repro --force)")
        _dvc(["repro", "--force"], tree, CheckFailed, "the pipeline failed")
        rebuilt = tree / path
        rebuilt_sha = file_digests(rebuilt)[1] if rebuilt.is_file() else None
        rebuilt_metrics = read_metrics(tree)
    finally:
        vcs.git_ok(root, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(workdir, ignore_errors=True)
        vcs.git_ok(root, "worktree", "prune")

    registered_metrics = record.get("metrics") or {}
    result = ReproduceResult(
        name=name,
        version=resolved.version,
        commit=resolved.commit,
        path=path,
        registered_sha256=record.get("model_sha256"),
        rebuilt_sha256=rebuilt_sha,
        registered_metrics=registered_metrics,
        rebuilt_metrics=rebuilt_metrics,
    )
    if result.registered_sha256 != rebuilt_sha:
        result.differences.append(
            Difference(f"{path} sha256", result.registered_sha256, rebuilt_sha)
        )
    for metric in sorted(set(registered_metrics) | set(rebuilt_metrics)):
        before, after = registered_metrics.get(metric), rebuilt_metrics.get(metric)
        if before != after:
            result.differences.append(Difference(f"metric {metric}", before, after))
    return result


def _dvc(args: list[str], cwd: Path, error: type[MlopsctlError], what: str) -> None:
    done = run_dvc(args, cwd)
    if not done.ok:
        tail = done.tail(3)
        hint = (
            "check the DVC remote (`dvc remote list`) and that the data was pushed"
            if error is EnvironmentProblem
            else f"run `dvc {' '.join(args)}` at that commit to see the whole error"
        )
        raise error(f"{what}: {tail}", hint)
