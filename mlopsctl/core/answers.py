"""A generated project's copier answers file: what `copier update` and `mlopsctl update` need
from it (the template's history and version, every answer the project depends on), and the
mlopsctl requirement its requirements.txt gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlopsctl import __version__
from mlopsctl.core import git as vcs
from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput

ANSWERS_FILE = ".copier-answers.yml"


def record_template_source(project: Path, template: str, requirement: str) -> str | None:
    """Make the answers file name what `copier update` needs: the template's history by a
    portable path (`_src_path`), the exact template version rendered (`_commit`), and the
    mlopsctl requirement (a `when: false` answer copier does not save). Returns a warning
    when the history is missing (the project is made, but cannot be updated)."""
    from mlopsctl.core import template_history as history
    from mlopsctl.errors import MlopsctlError

    answers: dict[str, Any] = {"mlopsctl_requirement": requirement}
    commit: str | None = None
    warning: str | None = None
    try:
        repo = history.synced_history(template)
        commit = history.exact_commit(repo, f"v{__version__}")
    except MlopsctlError as exc:
        warning = f"the template's history is not available ({exc.message})"
    else:
        warning = None if commit else f"the template's history has no v{__version__} tag"
    if commit:
        answers.update(_commit=commit, _src_path=history.portable(repo))
    write_answers(project, answers)
    return warning and warning + ": `mlopsctl update` will need --from"


def read_answers(project: Path) -> dict[str, Any]:
    import yaml

    path = project / ANSWERS_FILE
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return loaded if isinstance(loaded, dict) else {}


def write_answers(project: Path, changes: dict[str, Any]) -> None:
    """Change some answers in the answers file, keeping copier's order and header comment."""
    import yaml

    path = project / ANSWERS_FILE
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
    answers = {**read_answers(project), **changes}
    private: dict[str, Any] = {k: answers[k] for k in ("_commit", "_src_path") if k in answers}
    private.update((k, v) for k, v in answers.items() if k.startswith("_"))
    public = {k: v for k, v in answers.items() if not k.startswith("_")}
    # one line an answer (no wrapping): a reader that goes by lines sees whole answers
    body = yaml.safe_dump(
        {**private, **public}, sort_keys=False, allow_unicode=True, width=float("inf")
    )
    write_atomic(path, header + body)


UNKNOWN_REQUIREMENT = (
    "# mlopsctl @ git+https://github.com/YOUR-ORG/mlopsctl@COMMIT"
    "   <- unknown: set it (see the comment above)"
)


def mlopsctl_requirement(given: str | None = None) -> tuple[str, str | None]:
    """requirements.txt's mlopsctl line, and a warning when no installable one is known.

    `given` (init --mlopsctl-requirement) wins; else where pip says this mlopsctl came from
    (direct_url.json): a git URL and commit; a local git checkout's `origin` and HEAD; no
    direct URL means an index, where its exact version is. A local file or folder without a
    remote is not installable on a CI runner: the line is left commented, with a warning."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import InvalidRequirement, Requirement

    from mlopsctl import __version__

    if given is not None:
        try:
            parsed = Requirement(given)
        except InvalidRequirement as exc:
            raise BadInput(
                f"--mlopsctl-requirement {given!r} is not a requirement: {exc}",
                "e.g. 'mlopsctl @ git+https://github.com/ORG/mlopsctl@COMMIT' or 'mlopsctl==1.2.0'",
            ) from exc
        if parsed.name.lower() != "mlopsctl":
            raise BadInput(
                f"--mlopsctl-requirement {given!r} names {parsed.name}, not mlopsctl",
                "e.g. 'mlopsctl @ git+https://github.com/ORG/mlopsctl@COMMIT'",
            )
        return given, None
    try:
        direct = distribution("mlopsctl").read_text("direct_url.json")
    except PackageNotFoundError:
        direct = ""
    if direct is None:  # installed from a package index: that index has this version
        return f"mlopsctl=={__version__}", None
    try:
        info = json.loads(direct or "{}")
    except ValueError:
        info = {}
    url = str(info.get("url") or "")
    vcs_info = info.get("vcs_info") or {}
    if vcs_info.get("vcs") and vcs_info.get("commit_id") and url:
        return f"mlopsctl @ {vcs_info['vcs']}+{url}@{vcs_info['commit_id']}", None
    if url.startswith("file://") and "dir_info" in info:
        checkout = Path(url.removeprefix("file://"))
        remote = vcs.output(checkout, "remote", "get-url", "origin")
        commit = vcs.output(checkout, "rev-parse", "HEAD")
        if remote and commit and "://" in remote and not remote.startswith("file:"):
            return f"mlopsctl @ git+{remote}@{commit}", None
    where = url or "an unknown place"
    return UNKNOWN_REQUIREMENT, (
        f"requirements.txt has no installable mlopsctl line: this mlopsctl was installed from "
        f"{where}, which a CI runner cannot reach. Set it there, or make the project with "
        "`mlopsctl init --mlopsctl-requirement 'mlopsctl @ git+https://...@COMMIT'`"
    )
