"""What the registry says: tags replayed into each model's versions and stage holders, as GTO
replays them, and `NAME@vX.Y.Z` / `NAME#STAGE` resolved against that."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core.registry.tags import (
    ASSIGN,
    DEREGISTER,
    REGISTER,
    UNASSIGN,
    VERSION_RE,
    RegistryTag,
    parse_ref,
    read_tags,
)
from mlopsctl.errors import BadInput


def version_key(version: str) -> tuple[Any, ...]:
    """Order versions as SemVer does (a pre-release comes before its release)."""
    import semver

    return (semver.Version.parse(version[1:]),)


@dataclass
class ModelState:
    """What the registry says about one model: versions, stage holders, their events."""

    name: str
    versions: dict[str, str] = field(default_factory=dict)  # active version -> commit
    stages: dict[str, str] = field(default_factory=dict)  # stage -> version holding it
    events: list[RegistryTag] = field(default_factory=list)

    @property
    def latest(self) -> str | None:
        registered = [v for v in self.versions if VERSION_RE.match(v)]
        return max(registered, key=version_key) if registered else None

    def version_at(self, commit: str) -> str | None:
        found = [v for v, c in self.versions.items() if c == commit]
        return max(found, key=version_key) if found else None

    def was_in_stage(self, version: str, stage: str) -> bool:
        return any(
            t.action == ASSIGN and t.stage == stage and self.versions.get(version) == t.commit
            for t in self.events
        )


def model_state(name: str, tags: list[RegistryTag]) -> ModelState:
    """Replay a model's tags in time order, as GTO does (`gto show`, versions_per_stage=1):
    a stage is held by the version whose still-active assignment is the newest."""
    state = ModelState(name)
    assigned: dict[tuple[str, str], int | None] = {}  # (stage, version) -> time if active
    for tag in tags:
        if tag.artifact != name:
            continue
        state.events.append(tag)
        if tag.action == REGISTER and tag.version:
            state.versions[tag.version] = tag.commit
        elif tag.action == DEREGISTER and tag.version:
            state.versions.pop(tag.version, None)
        elif tag.action in (ASSIGN, UNASSIGN) and tag.stage:
            version = state.version_at(tag.commit) or tag.commit
            assigned[(tag.stage, version)] = tag.time if tag.action == ASSIGN else None
    newest: dict[str, tuple[int, str]] = {}
    for (stage, version), when in assigned.items():
        if when is None or (version not in state.versions and VERSION_RE.match(version)):
            continue
        if stage not in newest or when >= newest[stage][0]:
            newest[stage] = (when, version)
    state.stages = {stage: version for stage, (_, version) in sorted(newest.items())}
    return state


def registry_state(root: Path) -> dict[str, ModelState]:
    """Every model that has registry tags, by name."""
    tags = read_tags(root, messages=False)
    names = sorted({t.artifact for t in tags})
    return {name: model_state(name, tags) for name in names}


@dataclass(frozen=True)
class Resolved:
    """`NAME@vX.Y.Z` or `NAME#STAGE`, resolved against the registry."""

    name: str
    version: str
    commit: str
    stage: str | None
    state: ModelState


def resolve(root: Path, ref: str) -> Resolved:
    parsed = parse_ref(ref)
    if parsed is None:
        raise BadInput(
            f"cannot read {ref!r} as a model version or stage",
            "write NAME@vX.Y.Z (a version) or NAME#STAGE (a stage), e.g. demo@v0.0.1",
        )
    name = parsed.name
    state = model_state(name, read_tags(root, artifact=name))
    if not state.events:
        what = (
            f"no version in stage {parsed.stage!r}"
            if parsed.stage
            else f"no version {parsed.version}"
        )
        raise BadInput(
            f"{ref}: {what}: unknown model {name!r} (no registry tags)", _list_hint(root)
        )
    if parsed.version is not None:
        if parsed.version not in state.versions:
            known = ", ".join(sorted(state.versions, key=version_key)) or "none"
            raise BadInput(
                f"{ref}: {name} has no version {parsed.version}", f"registered versions: {known}"
            )
        return Resolved(name, parsed.version, state.versions[parsed.version], None, state)
    stage = str(parsed.stage)
    if stage not in state.stages:
        known = ", ".join(f"{s}={v}" for s, v in state.stages.items()) or "none"
        raise BadInput(f"{ref}: no version of {name} is in stage {stage!r}", f"stages now: {known}")
    version = state.stages[stage]
    return Resolved(name, version, state.versions.get(version, version), stage, state)


def _list_hint(root: Path) -> str:
    known = ", ".join(sorted(registry_state(root))) or "none yet"
    return f"models in the registry: {known} (see `mlopsctl registry list`)"


def registration(state: ModelState, version: str) -> RegistryTag | None:
    """The (newest) tag that registered `version`."""
    found = [t for t in state.events if t.action == REGISTER and t.version == version]
    return found[-1] if found else None


def next_counter(tags: list[RegistryTag]) -> int:
    """GTO numbers stage tags per artifact: one more than the highest `#N` so far."""
    return max((t.counter or 0 for t in tags), default=0) + 1
