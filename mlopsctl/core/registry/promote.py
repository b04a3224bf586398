"""`mlopsctl promote` and `mlopsctl rollback`: gate, then tag — both tags or none."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
from mlopsctl.core.pipeline.metrics import declared_metrics_files
from mlopsctl.core.project import Project
from mlopsctl.core.registry import gates
from mlopsctl.core.registry import state as states
from mlopsctl.core.registry import tags as registry
from mlopsctl.core.registry.gates import GateResult
from mlopsctl.core.registry.lineage import build_lineage
from mlopsctl.core.registry.tags import message_with_lineage, record_from_message
from mlopsctl.errors import BadInput, CheckFailed

BUMPS = ("major", "minor", "patch")
FIRST_VERSION = "v0.0.1"  # as `gto register` starts


class GatesFailed(CheckFailed):
    """Quality gates failed; carries the gate table for the CLI to show."""

    def __init__(self, result: PromoteResult) -> None:
        failed = [g.gate for g in result.gates if not g.passed]
        super().__init__(
            f"{len(failed)} gate(s) failed for {result.name} {result.version} -> "
            f"{result.stage}: {', '.join(failed)}; no tag was written",
            "fix what failed and promote again, or pass --force --reason TEXT to override "
            "(the reason and the failed gates are recorded in the tag)",
        )
        self.result = result


@dataclass
class PromoteRequest:
    stage: str
    name: str | None = None
    version: str | None = None
    bump: str | None = None
    dry_run: bool = False
    force: bool = False
    reason: str | None = None
    push: bool = False


@dataclass
class PromoteResult:
    name: str
    version: str
    stage: str
    commit: str
    register: bool  # a new version is registered by this promotion
    gates: list[GateResult]
    tags: list[str] = field(default_factory=list)
    written: bool = False
    forced: bool = False
    pushed_to: str | None = None
    settings_source: str = "defaults"

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)


def open_registry(project: Project) -> str:
    """The project's HEAD commit; the project must be at the root of its git repository."""
    top = vcs.toplevel(project.root)
    if top.resolve() != project.root.resolve():
        raise BadInput(
            f"the project {project.root} is not at the root of its git repository ({top})",
            "mlopsctl's registry works on projects at a repository's root",
        )
    head = vcs.head_commit(project.root)
    if head is None:
        raise BadInput("the repository has no commits yet", "commit your project first")
    return head


def model_name(project: Project, name: str | None, rev: str) -> tuple[str, str]:
    """(name, path) of a model declared in dvc.yaml `artifacts:` at `rev`."""
    artifacts = project.artifacts(rev)
    models = {k: v for k, v in artifacts.items() if v.get("type", "model") == "model"}
    if name is None:
        if len(models) != 1:
            raise BadInput(
                "name the model to promote" if models else "dvc.yaml declares no model",
                f"models in dvc.yaml: {', '.join(models)}"
                if models
                else "declare it under `artifacts:` in dvc.yaml (type: model, path: ...)",
            )
        name = next(iter(models))
    if name not in artifacts:
        raise BadInput(
            f"unknown model {name!r}: dvc.yaml at {rev[:8]} does not declare it",
            f"models declared there: {', '.join(artifacts) or 'none'}",
        )
    return name, str(artifacts[name].get("path", ""))


def next_version(state: states.ModelState, bump: str | None) -> str:
    import semver

    latest = state.latest
    if latest is None:
        return FIRST_VERSION
    current = semver.Version.parse(latest[1:])
    bumped = {
        "major": current.bump_major,
        "minor": current.bump_minor,
        "patch": current.bump_patch,
    }[bump or "patch"]()
    return f"v{bumped}"


def promote(project: Project, request: PromoteRequest) -> PromoteResult:
    """Gate the candidate, then register it (when new) and assign the stage, in one
    all-or-nothing tag transaction, and push the tags when asked."""
    head = open_registry(project)
    root = project.root
    settings = gates.project_settings(project)
    stage = settings.check_stage(request.stage)
    _check_request(root, request)
    name, path = model_name(project, request.name, head)
    tags = registry.read_tags(root, artifact=name)
    state = states.model_state(name, tags)
    version, commit, register = _candidate(state, head, request)
    if commit != head:
        name, path = model_name(project, name, commit)
    if state.stages.get(stage) == version:
        unpushed = _finish_push(root, state, stage, version) if request.push else None
        if unpushed is None:
            raise BadInput(f"{name} {version} is already in {stage}", "nothing to do")
        # a promotion killed mid-push: the tags are here, the remote lacks some; finish it
        return PromoteResult(
            name, version, stage, commit, False, [], tags=unpushed[1], pushed_to=unpushed[0]
        )
    candidate_record = _recorded(state, version)
    results = _run_gates(root, settings, state, stage, version, commit, head, candidate_record)
    result = PromoteResult(
        name, version, stage, commit, register, results, settings_source=settings.source
    )
    if not result.passed and not request.force:
        raise GatesFailed(result)
    result.forced = not result.passed
    if request.dry_run:
        return result
    remote = registry.push_remote(root) if request.push else None
    new = _promotion_tags(root, request, result, path, states.next_counter(tags))
    result.tags = registry.create_tags(root, name, new)
    result.written = True
    if remote is not None:
        result.pushed_to = _push_with_registration(root, remote, state, version, result.tags)
    return result


def _check_request(root: Path, request: PromoteRequest) -> None:
    """Refuse what cannot be asked, before any work (tags need a tagger too)."""
    if not request.dry_run:
        vcs.require_identity(root)
    if request.force and not (request.reason or "").strip():
        raise BadInput("--force needs --reason TEXT", "say why the gates may be skipped")
    if request.version and request.bump:
        raise BadInput("give --version or --bump, not both", "--bump picks the next version")
    if request.version and not registry.VERSION_RE.match(request.version):
        raise BadInput(f"invalid version {request.version!r}", "write it as vMAJOR.MINOR.PATCH")
    if request.bump and request.bump not in BUMPS:
        raise BadInput(f"invalid --bump {request.bump!r}", f"choose one of {', '.join(BUMPS)}")


def _promotion_tags(
    root: Path, request: PromoteRequest, result: PromoteResult, path: str, counter: int
) -> list[registry.NewTag]:
    """The registration tag (a new version, with its lineage) and the stage assignment, each
    with the gates and the decision (forced, reason, who, when) recorded in its message."""
    name, version, stage, commit = result.name, result.version, result.stage, result.commit
    gate_record = [g.__dict__ for g in result.gates]
    decision = {
        "forced": result.forced,
        "reason": request.reason,
        "failed_gates": [g.gate for g in result.gates if not g.passed],
        **who_and_when(root),
    }
    new: list[registry.NewTag] = []
    if result.register:
        lineage = build_lineage(root, name, path, commit).to_dict()
        record = {"action": "register", "version": version, **lineage, "gates": gate_record}
        message = message_with_lineage(f"Register {name} {version}", {**record, **decision})
        new.append(registry.NewTag(f"{name}@{version}", commit, message))
    assign = {
        "action": "assign",
        "artifact": name,
        "version": version,
        "stage": stage,
        "commit": commit,
        "gates": gate_record,
        **decision,
    }
    message = message_with_lineage(f"Promote {name} {version} to {stage}", assign)
    new.append(registry.NewTag(f"{name}#{stage}#{counter}", commit, message))
    return new


def _push_with_registration(
    root: Path, remote: str, state: states.ModelState, version: str, tags: list[str]
) -> str:
    """Push the tags just written and the version's registration tag (a remote that lacks it
    shows the stage held by a bare commit); returns the remote."""
    registration = states.registration(state, version)
    also = [registration.tag] if registration is not None else []
    registry.push_tags(root, remote, tags, also=also)
    return remote


def _needed_tags(state: states.ModelState, stage: str, version: str) -> list[str]:
    """The tags a remote needs to show `version` in `stage`: its registration and the newest
    assignment of it to `stage`."""
    needed = []
    registration = states.registration(state, version)
    if registration is not None:
        needed.append(registration.tag)
    commit = state.versions.get(version, version)
    assigned = [
        t
        for t in state.events
        if t.action == registry.ASSIGN and t.stage == stage and t.commit == commit
    ]
    if assigned:
        needed.append(assigned[-1].tag)
    return needed


def _finish_push(
    root: Path, state: states.ModelState, stage: str, version: str
) -> tuple[str, list[str]] | None:
    """(remote, tags pushed) when the remote lacked tags `version` in `stage` needs."""
    remote = registry.push_remote(root)
    needed = _needed_tags(state, stage, version)
    if not registry.missing_on_remote(root, remote, needed):
        return None
    return remote, registry.push_tags(root, remote, [], also=needed)


def who_and_when(root: Path) -> dict[str, str]:
    ident = vcs.committer_ident(root)
    return {
        "by": ident.rpartition(">")[0] + ">",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _candidate(
    state: states.ModelState, head: str, request: PromoteRequest
) -> tuple[str, str, bool]:
    """(version, commit, is new): an existing --version, HEAD's version, or a new one."""
    at_head = state.version_at(head)
    if request.version and request.version in state.versions:
        if request.bump:
            raise BadInput(f"{request.version} exists already", "drop --bump")
        return request.version, state.versions[request.version], False
    if at_head is not None:
        if request.version:
            raise BadInput(
                f"HEAD ({head[:8]}) is already registered as {state.name} {at_head}",
                f"promote it as {at_head} (drop --version), or commit a new model",
            )
        if request.bump:
            raise BadInput(f"HEAD is already {at_head}: nothing to bump", "drop --bump")
        return at_head, head, False
    version = request.version or next_version(state, request.bump)
    return version, head, True


def _recorded(state: states.ModelState, version: str) -> dict[str, Any] | None:
    tag = states.registration(state, version)
    return record_from_message(tag.message) if tag else None


def _run_gates(
    root: Path,
    settings: gates.PromotionSettings,
    state: states.ModelState,
    stage: str,
    version: str,
    commit: str,
    head: str,
    record: dict[str, Any] | None,
) -> list[GateResult]:
    from mlopsctl.core.dvcrepo import pipeline_state
    from mlopsctl.core.pipeline.metrics import read_metrics

    at_head = commit == head
    dvc_state = pipeline_state(root, None if at_head else commit)
    metrics = (record or {}).get("metrics") or read_metrics(root, commit)
    candidate = gates.Candidate(
        commit=commit,
        at_head=at_head,
        metrics=metrics,
        pipeline_status=dvc_state.status,
        not_pushed=dvc_state.not_pushed,
        has_remote=dvc_state.remote is not None,
        recorded_gates=(record or {}).get("gates"),
    )
    results: list[GateResult] = []
    if at_head:
        # a trained but uncommitted first model: dvc.lock and the metrics are still untracked
        records = ["dvc.lock", "params.yaml", *(declared_metrics_files(root) or [])]
        untracked = [f"{p} (untracked)" for p in vcs.untracked_files(root, records)]
        changed = vcs.changed_files(root) + untracked
        results += gates.git_gates(changed, vcs.current_branch(root), head)
    results += gates.pipeline_gates(candidate, dvc_state.stages)
    results += gates.metric_gates(settings, metrics, stage, _champion(root, state, stage))
    was_there = False
    previous = settings.previous_stage(stage)
    if previous is not None and version in state.versions:
        was_there = state.was_in_stage(version, previous)
    results += gates.previous_stage_gate(settings, stage, version, was_there)
    return results


def _champion(
    root: Path, state: states.ModelState, stage: str
) -> tuple[str, dict[str, Any]] | None:
    """The version now in `stage` and its metrics (from its tag, else read at its commit)."""
    from mlopsctl.core.pipeline.metrics import read_metrics

    holder = state.stages.get(stage)
    if holder is None:
        return None
    record = _recorded(state, holder) or {}
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        metrics = read_metrics(root, state.versions.get(holder, holder))
    return holder, metrics


@dataclass
class RollbackResult:
    name: str
    stage: str
    from_version: str
    to_version: str
    commit: str
    tags: list[str] = field(default_factory=list)
    written: bool = False
    pushed_to: str | None = None


def previous_holder(state: states.ModelState, stage: str) -> str | None:
    """The version a rollback of `stage` puts back. Promotions push onto a stack, rollbacks
    pop it, so rolling back twice undoes two promotions rather than toggling."""
    stack: list[str] = []
    for tag in state.events:
        if tag.action != registry.ASSIGN or tag.stage != stage:
            continue
        version = state.version_at(tag.commit) or tag.commit
        record = record_from_message(tag.message) or {}
        if record.get("action") == "rollback" and len(stack) > 1:
            stack.pop()
        else:
            stack.append(version)
    current = state.stages.get(stage)
    while stack and stack[-1] == current:
        stack.pop()
    stack = [v for v in stack if v in state.versions or not registry.VERSION_RE.match(v)]
    return stack[-1] if stack else None


def rollback(
    name: str,
    stage: str,
    reason: str | None = None,
    push: bool = False,
    dry_run: bool = False,
    *,
    project: Project,
) -> RollbackResult:
    open_registry(project)
    root = project.root
    settings = gates.project_settings(project)
    settings.check_stage(stage)
    if not dry_run:
        vcs.require_identity(root)
    tags = registry.read_tags(root, artifact=name)
    state = states.model_state(name, tags)
    if not tags:
        raise BadInput(f"unknown model {name!r}: it has no registry tags", "check the name")
    current = state.stages.get(stage)
    if current is None:
        raise BadInput(f"no version of {name} is in {stage}", "there is nothing to roll back")
    target = previous_holder(state, stage)
    if target is None:
        raise BadInput(
            f"{name} {current} is the first version ever in {stage}",
            "there is no earlier version to put back; promote another version instead",
        )
    commit = state.versions.get(target, target)
    result = RollbackResult(name, stage, current, target, commit)
    if dry_run:
        return result
    remote = registry.push_remote(root) if push else None
    record = {
        "action": "rollback",
        "artifact": name,
        "stage": stage,
        "version": target,
        "from_version": current,
        "commit": commit,
        "reason": reason,
        **who_and_when(root),
    }
    tag = registry.NewTag(
        f"{name}#{stage}#{states.next_counter(tags)}",
        commit,
        message_with_lineage(f"Roll back {name} {stage} from {current} to {target}", record),
    )
    result.tags = registry.create_tags(root, name, [tag])
    result.written = True
    if remote is not None:
        result.pushed_to = _push_with_registration(root, remote, state, target, result.tags)
    return result
