"""Reading a project's metrics from the workspace or any git revision / experiment."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core.config import flatten
from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    from dvc.repo import Repo


def read_metrics(root: Path, rev: str | None = None, repo: Repo | None = None) -> dict[str, Any]:
    """The metrics DVC declares (`metrics:` in dvc.yaml), flattened, as `dvc metrics show`
    names them; {} when there are none (yet).

    `rev` is any git revision or experiment name (an unknown one is BadInput); None reads
    the workspace. Pass an open `repo` to save opening one (~0.1 s)."""
    if repo is None:
        fast = _read_plain_metrics(root, rev)
        if fast is not None:
            return fast

        from mlopsctl.core.dvcrepo import open_repo

        with open_repo(root) as opened:
            return read_metrics(root, rev, opened)

    if rev is not None:
        from dvc.scm import resolve_rev

        try:
            resolve_rev(repo.scm, rev)
        except Exception as exc:
            raise BadInput(
                f"no git revision or experiment named {rev!r}",
                "use a commit, branch, tag or experiment name (`mlopsctl exp list`)",
            ) from exc
    results = repo.metrics.show(revs=None if rev is None else [rev], on_error="return")
    # DVC keys the workspace as "" when no revs are asked for, "workspace" otherwise
    rev_data = results.get("") or results.get("workspace") if rev is None else results.get(rev)
    rev_data = rev_data or {}
    files = {
        name: (data or {}).get("data") or {} for name, data in (rev_data.get("data") or {}).items()
    }
    return _merge(files)


def _merge(files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One flat dict; a key found in two files is prefixed with its file, as DVC does."""
    counts = Counter(key for values in files.values() for key in flatten(values))
    merged: dict[str, Any] = {}
    for name, values in files.items():
        for key, value in flatten(values).items():
            merged[key if counts[key] == 1 else f"{name}:{key}"] = value
    return merged


def declared_metrics_files(root: Path) -> list[str] | None:
    """Metrics files named in dvc.yaml and kept in git (`cache: false`), or None when DVC
    must resolve them (templated paths, metrics in DVC's cache)."""
    import yaml

    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        pipeline = yaml.load((root / "dvc.yaml").read_text(encoding="utf-8"), Loader=loader)
    except (OSError, yaml.YAMLError):
        return None
    entries = list((pipeline or {}).get("metrics") or [])
    for stage in ((pipeline or {}).get("stages") or {}).values():
        entries.extend((stage or {}).get("metrics") or [])
    files: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            files.append(str(entry))  # top-level metrics: plain files
            continue
        for name, options in entry.items():
            if (options or {}).get("cache", True):
                return None
            files.append(str(name))
    if any("${" in f for f in files) or (
        (pipeline or {}).get("stages", {})
        and any(
            "foreach" in (stage or {}) or "matrix" in (stage or {})
            for stage in pipeline["stages"].values()
        )
    ):
        return None
    return files


def _read_plain_metrics(root: Path, rev: str | None) -> dict[str, Any] | None:
    """The common case without DVC's machinery (~0.2 s a call): metrics files kept in git
    (`cache: false`), read from the workspace or with `git show REV:PATH`. None means
    "ask DVC" (templated paths, cached metrics, experiment names, unusual formats)."""
    import json

    from mlopsctl.core.git import git_ok, show_file

    files = declared_metrics_files(root)
    if files is None or any(Path(f).suffix not in (".json", ".yaml", ".yml") for f in files):
        return None
    contents: dict[str, str] = {}
    for name in files:
        if rev is None:
            path = root / name
            if path.is_file():
                contents[name] = path.read_text(encoding="utf-8")
            continue
        text = show_file(root, rev, name)
        if text is not None:
            contents[name] = text
        elif git_ok(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") is None:
            return None  # an experiment name, or nothing: DVC resolves or rejects it
    parsed: dict[str, dict[str, Any]] = {}
    for name, text in contents.items():
        try:
            if name.endswith(".json"):
                values = json.loads(text)
            else:
                import yaml

                values = yaml.safe_load(text)
        except ValueError:
            return None
        if isinstance(values, dict):
            parsed[name] = values
    return _merge(parsed)
