"""The model registry is git: GTO-format annotated tags, read in one `git for-each-ref`.

`name@v1.2.0` registers a version at a commit, `name#stage#N` assigns a stage (N counts up
per artifact), `name@v1.2.0!` / `name#stage!#N` cancel them. The real `gto` CLI and
`dvc.api.artifacts_show` read the same tags. GTO orders events by the tag's time in whole
seconds, so two tags of one artifact must never share a second: `create_tags` makes sure.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlopsctl.core import vcs
from mlopsctl.errors import BadInput, EnvironmentProblem

# The grammar of gto.constants.tag_re (GTO 1.x), kept here so that reading the registry does
# not import gto (~0.2 s); tests/core/test_registry.py checks that the two agree.
_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_SEMVER = (
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
TAG_RE = re.compile(
    rf"^(?P<artifact>([a-zA-Z0-9-_./]+=)?{_NAME})"
    rf"(((#(?P<stage>{_NAME})|@(?P<version>v{_SEMVER}))(?P<cancel>!?))"
    r"|@((?P<deprecated>deprecated)|(?P<created>created)))(#(?P<counter>[0-9]+))?$"
)
NAME_RE = re.compile(rf"^{_NAME}$")
VERSION_RE = re.compile(rf"^v{_SEMVER}$")

REGISTER, DEREGISTER, ASSIGN, UNASSIGN, DEPRECATE = (
    "register",
    "deregister",
    "assign",
    "unassign",
    "deprecate",
)
_FIELDS = (
    "%(refname:strip=2)",
    "%(objecttype)",
    "%(*objectname)",
    "%(*objecttype)",
    "%(taggerdate:unix)",
    "%(taggername)",
    "%(taggeremail)",
)
# a tag more than this many seconds in the future is waited for rather than written
MAX_SECONDS_AHEAD = 2


@dataclass(frozen=True)
class RegistryTag:
    """One annotated registry tag, as GTO reads it."""

    tag: str
    artifact: str
    action: str
    commit: str
    time: int
    author: str
    author_email: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None
    message: str = ""


def parse_tag_name(tag: str) -> dict[str, Any] | None:
    """{'artifact', 'action', 'version', 'stage', 'counter'} for a registry tag name, else None."""
    match = TAG_RE.match(tag)
    if not match:
        return None
    cancel = match["cancel"] == "!"
    if match["version"]:
        action = DEREGISTER if cancel else REGISTER
    elif match["stage"]:
        action = UNASSIGN if cancel else ASSIGN
    elif match["deprecated"]:
        action = DEPRECATE
    else:
        action = "create"
    return {
        "artifact": match["artifact"].replace("=", ":"),
        "action": action,
        "version": match["version"],
        "stage": match["stage"],
        "counter": int(match["counter"]) if match["counter"] else None,
    }


def read_tags(root: Path, artifact: str | None = None, messages: bool = True) -> list[RegistryTag]:
    """Every annotated registry tag (of one artifact), oldest first, from one git call.

    Lightweight tags are ignored, as GTO ignores them."""
    fmt = "%1f".join([*_FIELDS, "%(contents)" if messages else ""]) + "%1e"
    patterns = (
        [f"refs/tags/{artifact.replace(':', '=')}@*", f"refs/tags/{artifact.replace(':', '=')}#*"]
        if artifact
        else ["refs/tags"]
    )
    out = vcs.git(root, "for-each-ref", f"--format={fmt}", *patterns)
    tags = []
    for record in out.split("\x1e"):
        fields = record.lstrip("\n").split("\x1f")
        if len(fields) < 8:
            continue
        name, objtype, commit, peeled_type, when, author, email, message = fields[:8]
        parsed = parse_tag_name(name)
        if parsed is None or objtype != "tag" or peeled_type != "commit":
            continue
        if artifact is not None and parsed["artifact"] != artifact:
            continue
        tags.append(
            RegistryTag(
                tag=name,
                commit=commit,
                time=int(when or 0),
                author=author,
                author_email=email.strip("<>"),
                message=message,
                **parsed,
            )
        )
    tags.sort(key=lambda t: (t.time, t.counter or 0))
    return tags


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
    name, sep, rest = ref.partition("@") if "@" in ref else ref.partition("#")
    if not sep or not rest or not NAME_RE.match(name):
        raise BadInput(
            f"cannot read {ref!r} as a model version or stage",
            "write NAME@vX.Y.Z (a version) or NAME#STAGE (a stage), e.g. demo@v0.0.1",
        )
    state = model_state(name, read_tags(root, artifact=name))
    if not state.events:
        what = f"no version in stage {rest!r}" if sep == "#" else f"no version {rest}"
        raise BadInput(
            f"{ref}: {what}: unknown model {name!r} (no registry tags)", _list_hint(root)
        )
    if sep == "@":
        if rest not in state.versions:
            known = ", ".join(sorted(state.versions, key=version_key)) or "none"
            raise BadInput(f"{ref}: {name} has no version {rest}", f"registered versions: {known}")
        return Resolved(name, rest, state.versions[rest], None, state)
    if rest not in state.stages:
        known = ", ".join(f"{s}={v}" for s, v in state.stages.items()) or "none"
        raise BadInput(f"{ref}: no version of {name} is in stage {rest!r}", f"stages now: {known}")
    version = state.stages[rest]
    return Resolved(name, version, state.versions.get(version, version), rest, state)


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


@dataclass(frozen=True)
class NewTag:
    name: str
    commit: str
    message: str


def create_tags(root: Path, artifact: str, new: list[NewTag]) -> list[str]:
    """Create annotated tags all together or not at all, each in its own second.

    Each tag's time is after every existing tag of the artifact (ahead of the clock by up to
    MAX_SECONDS_AHEAD, else we wait). The refs are created in one `git update-ref --stdin`
    transaction, which Ctrl-C cannot split."""
    ident = vcs.committer_ident(root)
    who, _, tail = ident.rpartition(">")
    tz = tail.split()[1] if len(tail.split()) == 2 else "+0000"
    existing = read_tags(root, artifact=artifact, messages=False)
    for tag in new:
        if vcs.git_ok(root, "rev-parse", "--quiet", "--verify", f"refs/tags/{tag.name}"):
            raise BadInput(
                f"a tag named {tag.name} already exists",
                "the registry is unchanged; delete or rename that tag if it is not a registry tag",
            )
    now = int(time.time())
    start = max([now, *(t.time + 1 for t in existing)])
    ahead = start + len(new) - 1 - now
    if ahead > MAX_SECONDS_AHEAD:
        time.sleep(ahead - MAX_SECONDS_AHEAD)
    objects = []
    for offset, tag in enumerate(new):
        body = (
            f"object {tag.commit}\ntype commit\ntag {tag.name}\n"
            f"tagger {who}> {start + offset} {tz}\n\n{tag.message.rstrip()}\n"
        )
        objects.append(vcs.git(root, "mktag", stdin=body).strip())
    transaction = "".join(
        f"create refs/tags/{tag.name} {oid}\n" for tag, oid in zip(new, objects, strict=True)
    )
    with _ignoring_interrupt():
        vcs.git(root, "update-ref", "--stdin", stdin=transaction)
    return [t.name for t in new]


def delete_tags(root: Path, names: list[str]) -> None:
    """Remove tags this run made (after a failed push), in one transaction."""
    transaction = "".join(f"delete refs/tags/{name}\n" for name in names)
    with _ignoring_interrupt():
        vcs.git(root, "update-ref", "--stdin", stdin=transaction)


def push_remote(root: Path) -> str:
    """The git remote `--push` sends tags to: `origin`, else the only remote."""
    remotes = vcs.remote_names(root)
    if "origin" in remotes:
        return "origin"
    if len(remotes) == 1:
        return remotes[0]
    raise EnvironmentProblem(
        "no git remote to push the tags to" if not remotes else "several git remotes, no origin",
        "add one with `git remote add origin URL`, or promote without --push",
    )


def push_tags(root: Path, remote: str, names: list[str]) -> None:
    """Push the tags atomically; if the remote refuses, delete them here too."""
    refs = [f"refs/tags/{name}" for name in names]
    try:
        pushed = vcs.git_ok(root, "push", "--quiet", "--atomic", remote, *refs)
    except KeyboardInterrupt:
        delete_tags(root, names)
        raise
    if pushed is None:
        delete_tags(root, names)
        raise EnvironmentProblem(
            f"could not push {', '.join(names)} to {remote}; the tags were not kept",
            f"check `git push {remote}` works, then promote again",
        )


@contextlib.contextmanager
def _ignoring_interrupt() -> Iterator[None]:
    """Ignore Ctrl-C for a moment, here and in the git child (which inherits SIG_IGN), so a
    ref transaction is never cut short: it completes, then Ctrl-C works again."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: the signal cannot reach this code anyway
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def registry_root(start: Path | None = None) -> Path:
    """The project's root if we are in one, else the git repository's (tags live there)."""
    from mlopsctl.core.project import find_project

    here = start or Path.cwd()
    try:
        return find_project(here).root
    except EnvironmentProblem:
        return vcs.toplevel(here)


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


def list_registry(start: Path | None = None) -> Listing:
    """Every model with tags or declared in dvc.yaml; its latest version; each stage's holder."""
    from mlopsctl.core.gates import load_settings
    from mlopsctl.core.project import Project

    root = registry_root(start)
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


def model_history(name: str, start: Path | None = None) -> list[HistoryEvent]:
    """A model's events, oldest first, with the reasons recorded in mlopsctl's tags."""
    from mlopsctl.core.lineage import record_from_message

    root = registry_root(start)
    state = model_state(name, read_tags(root, artifact=name))
    if not state.events:
        raise BadInput(f"unknown model {name!r}: it has no registry tags", _list_hint(root))
    events = []
    for tag in state.events:
        record = record_from_message(tag.message) or {}
        event = _EVENT_NAMES.get(tag.action, tag.action)
        if record.get("action") == "rollback":
            event = "rollback"
        version = tag.version or state.version_at(tag.commit) or tag.commit
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
