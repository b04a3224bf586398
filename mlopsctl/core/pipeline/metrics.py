"""Reading a project's metrics from the workspace or any git revision / experiment."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mlopsctl.core.config import flatten
from mlopsctl.core.project import MAXIMIZE, MINIMIZE
from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    from dvc.repo import Repo


T = TypeVar("T")
SIGNIFICANT_DIGITS = 4


def format_number(value: Any, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A metric as every command prints it: 4 significant digits, all of a large number's
    integer digits, no exponent between 1e-7 and 1e15, no trailing zeros
    (0.973684 -> 0.9737, 12345.6 -> 12346, 0.00012 -> 0.00012, 3.0 -> 3).
    Anything that is not a float is shown as it is (ints, strings; None as "-").
    Gates pass more `digits`, so a failed comparison shows why."""
    if value is None:
        return "-"
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    if exponent >= 15 or exponent < -7:
        return f"{value:.{digits}g}"
    decimals = max(0, digits - 1 - exponent)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_change(change: float | None) -> str:
    """A difference of two metrics in the same format, always signed ("+0.0123", "-45")."""
    if change is None:
        return "-"
    if change == 0:
        return "0"
    text = format_number(float(change))
    return text if text.startswith("-") else f"+{text}"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def better(new: Any, old: Any, direction: str) -> bool | None:
    """Whether `new` improves on `old` for a metric with this direction (`maximize` or
    `minimize`); None when they are equal or either is not a number."""
    if not (is_number(new) and is_number(old)) or new == old:
        return None
    return new < old if direction == MINIMIZE else new > old


def best_first(items: Iterable[T], value: Callable[[T], Any], direction: str) -> list[T]:
    """`items` ranked by their metric `value`, the best first: lowest first for a metric to
    minimize, highest first otherwise. Items without a number come last, in their order."""
    scored: list[tuple[float, T]] = []
    unscored: list[T] = []
    for item in items:
        number = value(item)
        if is_number(number) and not math.isnan(float(number)):
            scored.append((float(number), item))
        else:
            unscored.append(item)
    scored.sort(key=lambda pair: pair[0], reverse=direction == MAXIMIZE)  # stable on ties
    return [item for _, item in scored] + unscored


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
