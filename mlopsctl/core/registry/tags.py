"""The model registry is git: GTO-format annotated tags, read in one `git for-each-ref`.

`name@v1.2.0` registers a version at a commit, `name#stage#N` assigns a stage (N counts up
per artifact), `name@v1.2.0!` / `name#stage!#N` cancel them. The real `gto` CLI and
`dvc.api.artifacts_show` read the same tags. GTO orders events by the tag's time in whole
seconds, so two tags of one artifact must never share a second: `create_tags` makes sure.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.core import git as vcs
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
class ModelRef:
    """`NAME@vX.Y.Z` (a version) or `NAME#STAGE` (a stage's holder)."""

    name: str
    version: str | None = None
    stage: str | None = None


def parse_ref(ref: str) -> ModelRef | None:
    """The one reading of `NAME@vX.Y.Z` / `NAME#STAGE`, else None. A version is anything
    after `@v` (whether it is registered is the registry's answer); a stage is a GTO name."""
    name, sep, rest = ref.partition("@") if "@" in ref else ref.partition("#")
    if not sep or not NAME_RE.match(name):
        return None
    if sep == "@":
        return ModelRef(name, version=rest) if re.match(r"^v\S+$", rest) else None
    return ModelRef(name, stage=rest) if NAME_RE.match(rest) else None


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


def missing_on_remote(root: Path, remote: str, names: list[str]) -> list[str]:
    """The tags of `names` that `remote` does not have (one `git ls-remote`)."""
    if not names:
        return []
    listed = vcs.git_ok(root, "ls-remote", "--tags", remote, *(f"refs/tags/{n}" for n in names))
    if listed is None:
        raise EnvironmentProblem(
            f"cannot read the tags of the git remote {remote!r}",
            f"check `git ls-remote {remote}` works, then run the command again",
        )
    there = {line.split("\t", 1)[-1].removeprefix("refs/tags/") for line in listed.splitlines()}
    return [name for name in names if name not in there]


def push_tags(
    root: Path, remote: str, names: list[str], also: list[str] | None = None
) -> list[str]:
    """Push `names` (made by this run) and the tags of `also` the remote lacks (older tags
    the pushed state needs, e.g. the version's registration), atomically; if the remote
    refuses, delete `names` here too. Returns what was pushed."""
    try:
        older = missing_on_remote(root, remote, [t for t in also or [] if t not in names])
    except EnvironmentProblem as exc:
        if names:
            delete_tags(root, names)
        raise EnvironmentProblem(
            f"could not push {', '.join(names or also or [])} to {remote}"
            + ("; the tags were not kept" if names else ""),
            exc.hint,
        ) from exc
    sent = [*older, *names]
    if not sent:
        return []
    refs = [f"refs/tags/{name}" for name in sent]
    try:
        vcs.git(root, "push", "--quiet", "--atomic", remote, *refs)
    except KeyboardInterrupt:
        delete_tags(root, names)
        raise
    except vcs.GitFailed as exc:
        if names:
            delete_tags(root, names)
        kept = "; the tags were not kept" if names else ""
        raise EnvironmentProblem(
            f"could not push {', '.join(sent)} to {remote}{kept}: {exc.reason}",
            f"check `git push {remote}` works, then run the command again",
        ) from None
    return sent


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


def message_with_lineage(summary: str, record: dict[str, Any]) -> str:
    """A tag message: one line for `git tag -n` and `gto history`, then the JSON record."""
    return f"{summary}\n\n{json.dumps(record, indent=2, sort_keys=True)}\n"


def record_from_message(message: str) -> dict[str, Any] | None:
    """The JSON record of a tag message written by mlopsctl, or None (another tool's tag)."""
    start = message.find("\n{")
    if start < 0:
        start = 0 if message.startswith("{") else -1
    if start < 0:
        return None
    try:
        record = json.loads(message[start:])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
