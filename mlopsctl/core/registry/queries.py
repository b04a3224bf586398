"""The registry's read-only views: `registry list`, `registry history`, `registry lineage`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.pipeline.metrics import read_metrics
from mlopsctl.core.project import Project
from mlopsctl.core.registry.gates import load_settings
from mlopsctl.core.registry.lineage import build_lineage
from mlopsctl.core.registry.state import (
    _list_hint,
    model_state,
    registration,
    registry_state,
    resolve,
)
from mlopsctl.core.registry.tags import (
    ASSIGN,
    DEPRECATE,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    read_tags,
    record_from_message,
)
from mlopsctl.errors import BadInput, EnvironmentProblem


def registry_root(start: Path) -> Path:
    """The root of the project around `start` if it is in one, else of its git repository
    (the tags live there)."""
    from mlopsctl.core.project import find_project

    try:
        return find_project(start).root
    except EnvironmentProblem:
        return vcs.toplevel(start)


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest: str | None
    stages: dict[str, str | None]
    declared: bool  # in the workspace's dvc.yaml `artifacts:`


@dataclass(frozen=True)
class Listing:
    stages: list[str]
    models: list[ModelSummary]


def list_registry(root: Path) -> Listing:
    """Every model with tags or declared in dvc.yaml; its latest version; each stage's holder."""
    from mlopsctl.core.project import Project

    project = Project(root)
    declared = set(project.artifacts()) if project.dvc_yaml.is_file() else set()
    states = registry_state(root)
    stages = list(load_settings(root, project.primary_metric()).stages)
    stages += sorted({s for state in states.values() for s in state.stages} - set(stages))
    models = [
        ModelSummary(
            name=name,
            latest=states[name].latest if name in states else None,
            stages={s: states[name].stages.get(s) if name in states else None for s in stages},
            declared=name in declared,
        )
        for name in sorted(set(states) | declared)
    ]
    return Listing(stages, models)


@dataclass(frozen=True)
class HistoryEvent:
    time: int
    event: str  # registration, deregistration, assignment, unassignment, rollback, deprecation
    version: str | None
    stage: str | None
    tag: str
    commit: str
    author: str
    author_email: str
    reason: str | None
    forced: bool
    failed_gates: list[str]


_EVENT_NAMES = {
    REGISTER: "registration",
    DEREGISTER: "deregistration",
    ASSIGN: "assignment",
    UNASSIGN: "unassignment",
    DEPRECATE: "deprecation",
}


def model_history(root: Path, name: str) -> list[HistoryEvent]:
    """A model's events, oldest first, with the reasons recorded in mlopsctl's tags."""

    state = model_state(name, read_tags(root, artifact=name))
    if not state.events:
        raise BadInput(f"unknown model {name!r}: it has no registry tags", _list_hint(root))
    # versions ever registered, by commit: a deregistered or deprecated version (`gto
    # deprecate`) is still the version its older assignments were about
    ever = {t.commit: t.version for t in state.events if t.action == REGISTER and t.version}
    events = []
    for tag in state.events:
        record = record_from_message(tag.message) or {}
        event = _EVENT_NAMES.get(tag.action, tag.action)
        if record.get("action") == "rollback":
            event = "rollback"
        version = tag.version or state.version_at(tag.commit) or ever.get(tag.commit) or tag.commit
        events.append(
            HistoryEvent(
                time=tag.time,
                event=event,
                version=version,
                stage=tag.stage,
                tag=tag.tag,
                commit=tag.commit,
                author=tag.author,
                author_email=tag.author_email,
                reason=record.get("reason"),
                forced=bool(record.get("forced")),
                failed_gates=list(record.get("failed_gates") or []),
            )
        )
    return events


def version_lineage(root: Path, ref: str) -> dict[str, Any]:
    """The lineage of `NAME@vX.Y.Z` or `NAME#STAGE`: as recorded in its registration tag,
    else (a version registered by another tool) as read from its commit."""
    from mlopsctl.core.project import Project

    resolved = resolve(root, ref)
    tag = registration(resolved.state, resolved.version)
    record = record_from_message(tag.message) if tag else None
    if record is not None:
        record.update(source=f"tag {tag.tag}" if tag else "tag")
    else:
        declared = Project(root).artifacts(resolved.commit).get(resolved.name) or {}
        record = build_lineage(
            root, resolved.name, str(declared.get("path", "")), resolved.commit
        ).to_dict()
        record.update(source=f"read from commit {resolved.commit[:8]} (no mlopsctl record)")
        record["mlopsctl_version"] = None  # no mlopsctl wrote it
    record.update(artifact=resolved.name, version=resolved.version, stage=resolved.stage)
    if tag is not None:
        record.setdefault("by", f"{tag.author} <{tag.author_email}>")
        record.setdefault("at", tag.time)
    return _one_shape(root, record)


# every version's lineage has these keys, whoever registered it (missing ones get these)
LINEAGE_DEFAULTS: dict[str, Any] = {
    "format": 2,
    "action": "register",
    "model_md5": None,
    "model_sha256": None,
    "data": {},
    "params": {},
    "params_sha256": None,
    "metrics": {},
    "mlopsctl_version": None,
    "gates": [],
    "failed_gates": [],
    "forced": False,
    "reason": None,
    "by": None,
    "at": None,
}


def _one_shape(root: Path, record: dict[str, Any]) -> dict[str, Any]:
    """The same keys and types for every version: `at` as ISO 8601 UTC, params_sha256 of
    params.yaml's bytes (records before format 2 hashed canonical JSON), model_sha256 read
    from the workspace or DVC cache when the record has none."""
    import time

    from mlopsctl.core.registry.lineage import model_sha256, params_file_sha256

    for key, default in LINEAGE_DEFAULTS.items():
        if record.get(key) is None:
            record[key] = _copy(default)
    if isinstance(record["at"], int | float):
        record["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record["at"]))
    commit = str(record.get("commit") or "")
    if commit:
        params_text = vcs.show_file(root, commit, "params.yaml")
        record["params_sha256"] = params_file_sha256(params_text) or record["params_sha256"]
    if record["model_sha256"] is None and record["model_md5"] and record.get("path"):
        try:
            record["model_sha256"] = model_sha256(root, str(record["path"]), record["model_md5"])
        except Exception:
            record["model_sha256"] = None
    return record


def _copy(value: Any) -> Any:
    return type(value)() if isinstance(value, dict | list) else value


def deployed_model(project: Project) -> tuple[str, dict[str, Any]] | None:
    """`NAME#STAGE (vX.Y.Z)` and the metrics of the version holding the project's last
    promotion stage, or None without a registry (one `git for-each-ref`, no DVC)."""
    names = list(project.artifacts())
    if not names:
        return None
    tags = read_tags(project.root, artifact=names[0], messages=False)
    if not tags:
        return None
    stage = load_settings(project.root, project.primary_metric()).stages[-1]
    state = model_state(names[0], tags)
    version = state.stages.get(stage)
    if version is None:
        return None
    commit = state.versions.get(version, version)
    return f"{names[0]}#{stage} ({version})", read_metrics(project.root, commit)
