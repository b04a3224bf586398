"""`mlopsctl update`: bring a newer template version into a project, keeping the user's edits.

Copier's three-way update (`copier.run_update`) runs in a shared clone of the project, from
the template version the project records to the one asked for; its result comes back to
the project as one patch applied to the work tree and the index (`git apply --index`), so
the project is touched only when the update is complete, and a dry run touches nothing.
Conflicts stay as copier leaves them: inline markers (or `.rej` files), listed.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mlopsctl import __version__
from mlopsctl.core import config
from mlopsctl.core import git as vcs
from mlopsctl.core import template_history as history
from mlopsctl.core.answers import ANSWERS_FILE, mlopsctl_requirement, read_answers, write_answers
from mlopsctl.core.scaffold import DEFAULT_TEMPLATE, available_templates
from mlopsctl.errors import BadInput, MlopsctlError

_PIN_RE = re.compile(r"^mlopsctl\s*==\s*([^\s;#]+)", re.MULTILINE)
_MARKER_RE = re.compile(r"^<{7} .*^={7}$.*^>{7} ", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class UpdateOptions:
    project: Path
    to: str | None = None
    from_version: str | None = None
    dry_run: bool = False
    commit: bool = False


@dataclass
class UpdateResult:
    project: Path
    template: str
    from_commit: str
    to_commit: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    params_recomposed: bool = False
    dry_run: bool = False
    commit: str | None = None
    diffstat: str = ""

    @property
    def up_to_date(self) -> bool:
        return not (self.added or self.changed or self.removed)


def update_project(options: UpdateOptions) -> UpdateResult:
    """Update options.project (see the module docstring); BadInput when the tree is dirty,
    the project records no template version and no --from is given, or a version is unknown."""
    root = vcs.toplevel(options.project.absolute())
    answers = read_answers(root)
    if not answers:
        raise BadInput(
            f"{root} has no {ANSWERS_FILE}: it was not made by `mlopsctl init`",
            "run `mlopsctl update` in a project made by `mlopsctl init`",
        )
    _refuse_dirty(root)
    vcs.require_identity(root)
    template = _template_name(answers)
    repo = history.synced_history(template)
    start = _start_commit(repo, root, answers, options.from_version)
    target = _target_commit(repo, options.to)
    result = UpdateResult(root, template, start, target, dry_run=options.dry_run)
    if _commit_of(repo, start) == _commit_of(repo, target):
        return result

    workdir = Path(tempfile.mkdtemp(prefix="mlopsctl-update-"))
    try:
        clone = workdir / root.name
        vcs.git(root, "clone", "--quiet", "--shared", str(root), str(clone))
        head = vcs.output(clone, "rev-parse", "HEAD")
        old_pin = _recorded_requirement(root, answers) or "mlopsctl"
        write_answers(
            clone, {"_commit": start, "_src_path": str(repo), "mlopsctl_requirement": old_pin}
        )
        if vcs.changed_files(clone):
            vcs.commit_tracked(
                clone, "mlopsctl update: the template version this project started from"
            )
        _run_copier(clone, target, _target_requirement(options.to, old_pin))
        write_answers(clone, {"_commit": target, "_src_path": history.portable(repo)})
        vcs.git(clone, "add", "--all")
        _summarise(clone, head, result)
        result.diffstat = vcs.git(clone, "diff", "--cached", "--stat", head)
        patch = vcs.git(clone, "diff", "--cached", "--binary", "--full-index", head)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if options.dry_run or not patch:
        return result
    vcs.git(root, "apply", "--index", "--binary", "-", stdin=patch)
    result.params_recomposed = _recompose_params(root, result)
    if options.commit and not result.conflicts:
        result.commit = vcs.commit_tracked(
            root, f"Update template {template} from {start} to {target} (mlopsctl update)"
        )
    return result


def _refuse_dirty(root: Path) -> None:
    status = vcs.git(root, "status", "--porcelain")
    dirty = [line[3:] for line in status.splitlines() if line.strip()]
    if dirty:
        shown = ", ".join(dirty[:5]) + (", ..." if len(dirty) > 5 else "")
        raise BadInput(
            f"the project has uncommitted changes ({shown})",
            "commit or stash them (git stash --include-untracked), then run `mlopsctl update`",
        )


def _template_name(answers: dict[str, object]) -> str:
    """The template a project came from, by the last part of its `_src_path`."""
    src = str(answers.get("_src_path") or "")
    name = Path(src.rstrip("/")).name.removesuffix(".git").removesuffix(".bundle")
    return name if name in available_templates() else DEFAULT_TEMPLATE


def _start_commit(
    repo: Path, root: Path, answers: dict[str, object], from_version: str | None
) -> str:
    if from_version:
        return _version_commit(repo, from_version, "--from")
    recorded = str(answers.get("_commit") or "")
    if recorded:
        exact = history.exact_commit(repo, recorded)
        if exact is None:
            raise BadInput(
                f"the project's template version {recorded} is not in the template's history",
                "name the mlopsctl version the project was made with: --from VERSION",
            )
        return exact
    pin = _PIN_RE.search(_recorded_requirement(root, answers) or "")
    if pin is None:
        raise BadInput(
            f"the project's {ANSWERS_FILE} records no template version",
            "name the mlopsctl version the project was made with: --from VERSION "
            f"(known: {', '.join(history.versions(repo))})",
        )
    return _version_commit(repo, pin.group(1), "--from")


def _target_commit(repo: Path, to: str | None) -> str:
    return _version_commit(repo, to or __version__, "--to")


def _version_commit(repo: Path, version: str, option: str) -> str:
    tag = history.version_ref(repo, version)
    exact = history.exact_commit(repo, tag) if tag else None
    if exact is None:
        raise BadInput(
            f"the template's history has no mlopsctl version {version}",
            f"{option} takes one of: {', '.join(history.versions(repo)) or '(none)'}",
        )
    return exact


def _commit_of(repo: Path, rev: str) -> str:
    return vcs.output(repo, "rev-parse", f"{rev}^{{commit}}")


def _recorded_requirement(root: Path, answers: dict[str, object]) -> str | None:
    """The project's mlopsctl pin: its answer, else the line in requirements.txt (projects
    made before the answer was saved)."""
    if answers.get("mlopsctl_requirement"):
        return str(answers["mlopsctl_requirement"])
    requirements = vcs.show_file(root, "HEAD", "requirements.txt") or ""
    for line in requirements.splitlines():
        if re.match(r"^mlopsctl\b", line.strip()):
            return line.strip()
    return None


def _target_requirement(to: str | None, old_pin: str) -> str:
    """The installed mlopsctl when updating to it; `mlopsctl==X` for another version X."""
    if to is None or to.removeprefix("v") == __version__:
        line, unknown = mlopsctl_requirement()
        return old_pin if unknown else line
    return f"mlopsctl=={to.removeprefix('v')}" if _PIN_RE.match(old_pin) else old_pin


def _run_copier(clone: Path, target: str, requirement: str) -> None:
    from copier import run_update
    from copier.errors import CopierError

    try:
        run_update(
            clone,
            data={"mlopsctl_requirement": requirement},
            vcs_ref=target,
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=True,
            conflict="inline",
        )
    except CopierError as exc:
        raise BadInput(
            f"copier could not update the project: {exc}", "see copier's message"
        ) from exc


def _summarise(clone: Path, head: str, result: UpdateResult) -> None:
    status = vcs.git(clone, "diff", "--cached", "--name-status", "--no-renames", "-z", head)
    fields = [f for f in status.split("\0") if f]
    for kind, path in zip(fields[::2], fields[1::2], strict=True):
        if path == ANSWERS_FILE:
            continue
        {"A": result.added, "D": result.removed}.get(kind[0], result.changed).append(path)
        if kind[0] != "D" and _has_conflict(clone / path):
            result.conflicts.append(path)


def _has_conflict(path: Path) -> bool:
    if path.suffix == ".rej":
        return True
    try:
        return bool(_MARKER_RE.search(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError):
        return False


def _recompose_params(root: Path, result: UpdateResult) -> bool:
    """params.yaml from the updated conf/ (not while conf/ has conflict markers); an update
    that leaves conf/ alone leaves params.yaml alone (and skips Hydra's second)."""
    touched = [p for p in result.added + result.changed + result.removed if p.startswith("conf/")]
    if not touched or any(path.startswith("conf/") for path in result.conflicts):
        return False
    try:
        changed = config.write_params(root, config.compose_params(root))
    except MlopsctlError:
        return False
    if changed:
        vcs.stage(root, ["params.yaml"])
        if "params.yaml" not in result.changed:
            result.changed.append("params.yaml")
    return changed
