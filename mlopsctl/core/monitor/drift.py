"""`mlopsctl monitor drift`: compare current data with the training data's profile.

Per column, as Evidently and alibi-detect do by default: numeric columns by the Wasserstein
distance divided by the reference's standard deviation, categorical ones by the
Jensen-Shannon distance; `ks`, `chi2` (p-values, Bonferroni-corrected) and `psi` on request.
The reference is a profile (docs/data.md): its 100 quantiles give the reference's quantile
function, so W1 = mean |F_ref^-1(u) - F_cur^-1(u)| over the 100 percent midpoints u.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core.data import profile as profiles
from mlopsctl.core.data.tables import read_table
from mlopsctl.core.monitor.current import DEFAULT_SAMPLE, Progress, ignore_progress, read_current
from mlopsctl.core.monitor.stats import categorical_score, numeric_score
from mlopsctl.core.settings import SETTINGS_FILE, tool_table
from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("default", "ks", "chi2", "psi")
KINDS = ("numeric", "categorical")
DEFAULT_THRESHOLDS = {
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "ks": 0.05,
    "chi2": 0.05,
}
DEFAULT_SHARE = 0.5
# as Evidently: distances are noisy on small samples, so up to this many rows (on either
# side) the default is a test (ks / chi2) instead
SMALL_SAMPLE = 1000
MISSING_CHANGE = 0.1  # a change in the share of missing values worth a note
SETTINGS_TABLE = "tool.mlopsctl.drift"


@dataclass(frozen=True)
class DriftSettings:
    method: str = "default"
    # per-column threshold: a distance (wasserstein, jensenshannon, psi) or, for ks and
    # chi2, the p-value level before the Bonferroni correction
    threshold: float | None = None
    share: float = DEFAULT_SHARE
    types: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    source: str = "defaults"


def load_settings(root: Path | None) -> DriftSettings:
    """`[tool.mlopsctl.drift]` of the project's pyproject.toml (defaults outside a project)."""
    table = tool_table(root, "drift") if root is not None else {}
    unknown = sorted(set(table) - {"method", "threshold", "share", "types", "ignore"})
    if unknown:
        raise BadInput(
            f"[{SETTINGS_TABLE}] in {SETTINGS_FILE} has unknown keys: {', '.join(unknown)}",
            "the keys are method, threshold, share, ignore and types (see docs/monitor.md)",
        )
    types = table.get("types", {})
    ignore = table.get("ignore", [])
    threshold = table.get("threshold")
    share = table.get("share", DEFAULT_SHARE)
    method = table.get("method", "default")
    if not (
        isinstance(types, dict)
        and all(isinstance(v, str) and v in KINDS for v in types.values())
        and isinstance(ignore, list)
        and all(isinstance(v, str) for v in ignore)
        and (threshold is None or _is_number(threshold))
        and _is_number(share)
        and method in METHODS
    ):
        raise BadInput(
            f"[{SETTINGS_TABLE}] in {SETTINGS_FILE} has a value of the wrong type",
            "method is one of default, ks, chi2, psi; threshold and share are numbers; "
            "ignore is a list of column names; types maps columns to numeric or categorical "
            "(see docs/monitor.md)",
        )
    return DriftSettings(
        method=method,
        threshold=None if threshold is None else float(threshold),
        share=float(share),
        types={str(k): v for k, v in types.items()},
        ignore=tuple(ignore),
        source=f"{SETTINGS_FILE} [{SETTINGS_TABLE}]" if table else "defaults",
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class ColumnDrift:
    column: str
    kind: str
    method: str
    score: float | None
    threshold: float
    drifted: bool
    missing_reference: float
    missing_current: float
    new_categories: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class DriftResult:
    reference: str
    current: str
    method: str
    rows_reference: int
    rows_current: int  # rows read
    rows_compared: int  # rows compared: a uniform sample of at most --sample rows
    share_threshold: float
    columns: list[ColumnDrift]
    skipped: list[str] = field(default_factory=list)  # reference columns not compared
    extra: list[str] = field(default_factory=list)  # current columns the reference lacks
    settings_source: str = "defaults"

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted_columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.share >= self.share_threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "drifted_columns": self.drifted_columns,
            "share": round(self.share, 6),
            "dataset_drift": self.dataset_drift,
        }


# --- the reference -------------------------------------------------------------------------


def load_reference(path: Path, types: dict[str, str]) -> dict[str, Any]:
    """A saved profile (JSON), or a dataset profiled now with the same code."""
    import json

    if path.name.lower().endswith(".json"):
        if not path.is_file():
            raise BadInput(
                f"{path}: no such reference profile",
                "run the pipeline (`mlopsctl train`) to save it, or give --reference DATA",
            )
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(f"cannot read {path}: {exc}", "give an mlopsctl profile") from exc
        if not (
            isinstance(loaded, dict)
            and str(loaded.get("format", "")).startswith("mlopsctl.profile/")
            and isinstance(loaded.get("columns"), dict)
        ):
            raise BadInput(
                f"{path} is not an mlopsctl profile",
                "give a file written by `mlopsctl data profile`, or a dataset",
            )
        return loaded
    frame = read_table(path)
    return {
        "format": profiles.PROFILE_FORMAT,
        "data": str(path),
        "rows": len(frame),
        "columns": {
            str(c): profiles.profile_column(
                frame[c], categorical=types.get(str(c)) == "categorical"
            )
            for c in frame.columns
        },
    }


# --- comparing -----------------------------------------------------------------------------


def compare(
    reference: dict[str, Any],
    current: pd.DataFrame,
    settings: DriftSettings,
    *,
    reference_name: str = "reference",
    current_name: str = "current",
    rows_current: int | None = None,
    optional: tuple[str, ...] = (),
) -> DriftResult:
    """Compare each reference column with the current data; `optional` columns (the
    target: live requests do not have it) are skipped when the current data lacks them."""
    columns: dict[str, Any] = reference["columns"]
    present = {str(c) for c in current.columns}
    ignored = set(settings.ignore) | {c for c in optional if c not in present}
    wanted = [c for c in columns if c not in ignored and columns[c].get("kind") in KINDS]
    missing = [c for c in wanted if c not in present]
    if wanted and len(missing) == len(wanted):
        raise BadInput(
            f"the current data shares no column with the reference {reference_name}",
            "is the reference profile from another dataset? give the matching --reference",
        )
    if missing:
        raise BadInput(
            f"the current data lacks {len(missing)} column(s) of the reference: "
            + ", ".join(missing[:10]),
            "add them, or leave them out: --ignore COLUMN (or `ignore` under "
            f"[{SETTINGS_TABLE}] in {SETTINGS_FILE})",
        )
    unknown = [c for c in settings.types if c not in columns]
    if unknown:
        raise BadInput(
            f"[{SETTINGS_TABLE}] types names columns the reference does not have: "
            + ", ".join(unknown),
            "fix the column names",
        )
    method = settings.method
    if method == "default" and min(int(reference.get("rows", 0)), len(current)) <= SMALL_SAMPLE:
        method = "small"
    tests = len(wanted)
    results = [
        _compare_column(name, columns[name], current[name], settings, method, tests)
        for name in wanted
    ]
    return DriftResult(
        reference=reference_name,
        current=current_name,
        method=settings.method,
        rows_reference=int(reference.get("rows", 0)),
        rows_current=len(current) if rows_current is None else rows_current,
        rows_compared=len(current),
        share_threshold=settings.share,
        columns=results,
        skipped=[c for c in columns if c not in wanted],
        extra=sorted(present - set(columns) - ignored),
        settings_source=settings.source,
    )


def column_kind(stats: dict[str, Any], override: str | None) -> str:
    kind = override or stats["kind"]
    if kind == "numeric" and stats["kind"] == "numeric" and override is None:
        return "categorical" if "frequencies" in stats else "numeric"
    return str(kind)


def _method_for(kind: str, method: str) -> str:
    if method == "default":
        return "wasserstein" if kind == "numeric" else "jensenshannon"
    if method == "small":
        return "ks" if kind == "numeric" else "chi2"
    if method == "ks" and kind == "categorical":
        return "chi2"
    return method


def _compare_column(
    name: str,
    stats: dict[str, Any],
    values: pd.Series,
    settings: DriftSettings,
    method: str,
    tests: int,
) -> ColumnDrift:
    """One column against its reference statistics: the score, whether it drifted, and
    notes (missing values, new categories, values of the wrong type)."""
    kind = column_kind(stats, settings.types.get(name))
    chosen = _method_for(kind, method)
    threshold = DEFAULT_THRESHOLDS[chosen] if settings.threshold is None else settings.threshold
    if chosen in ("ks", "chi2"):
        threshold = threshold / max(1, tests)  # Bonferroni
    total = int(stats.get("count", 0)) + int(stats.get("missing", 0))
    column = ColumnDrift(
        column=name,
        kind=kind,
        method=chosen,
        score=None,
        threshold=threshold,
        drifted=False,
        missing_reference=round(int(stats.get("missing", 0)) / total, 6) if total else 0.0,
        missing_current=round(float(values.isna().mean()), 6) if len(values) else 0.0,
    )
    notes = []
    if abs(column.missing_current - column.missing_reference) >= MISSING_CHANGE:
        notes.append(
            f"missing values {column.missing_reference:.0%} -> {column.missing_current:.0%}"
        )
    present = values.dropna()
    if present.empty:
        notes.append("no values in the current data")
    elif kind == "numeric":
        _score_numeric(column, name, stats, present, tests, notes)
    else:
        _score_categorical(column, name, stats, present, notes)
    if column.score is not None and not math.isfinite(column.score):
        column.score = None
    if column.score is None:
        column.drifted = True
    elif chosen in ("ks", "chi2"):
        column.drifted = column.score < threshold
    else:
        column.drifted = column.score >= threshold
    column.note = "; ".join(notes)
    return column


def _score_numeric(
    column: ColumnDrift,
    name: str,
    stats: dict[str, Any],
    present: pd.Series,
    tests: int,
    notes: list[str],
) -> None:
    """The score of a numeric column; no score (so: drifted) when values are not numbers."""
    import pandas as pd

    if stats["kind"] != "numeric" or not stats.get("quantiles"):
        raise BadInput(
            f"column {name!r} is {stats['kind']} in the reference: it cannot be compared "
            "as numeric",
            f"remove it from `types` under [{SETTINGS_TABLE}]",
        )
    if pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present):
        numbers = present.to_numpy(dtype="float64")
    else:
        coerced = pd.to_numeric(present, errors="coerce")
        bad = int(coerced.isna().sum())
        if bad:
            notes.append(f"type mismatch: {bad} value(s) are not numbers")
            return
        numbers = coerced.to_numpy(dtype="float64")
    column.score = numeric_score(stats, numbers, column.method, tests)


def _score_categorical(
    column: ColumnDrift, name: str, stats: dict[str, Any], present: pd.Series, notes: list[str]
) -> None:
    """The score of a categorical column, and the categories the reference never saw."""
    if "frequencies" not in stats:
        raise BadInput(
            f"column {name!r} has no category frequencies in the reference profile",
            "give the reference dataset (--reference DATA), which is profiled with "
            "this column as categorical",
        )
    score, new = categorical_score(stats, profiles.category_keys(present), column.method)
    column.score = score
    column.new_categories = new
    if new:
        shown = ", ".join(new[:5]) + (" ..." if len(new) > 5 else "")
        notes.append(f"{len(new)} new categor{'y' if len(new) == 1 else 'ies'}: {shown}")


def check_drift(
    current: Path,
    reference: Path,
    settings: DriftSettings,
    *,
    sample: int = DEFAULT_SAMPLE,
    on_progress: Progress = ignore_progress,
    shown_reference: str | None = None,
    optional: tuple[str, ...] = (),
) -> tuple[DriftResult, dict[str, Any], pd.DataFrame]:
    """Read both sides and compare; also returns the reference profile and the current rows
    (for the HTML report)."""
    ref = load_reference(reference, settings.types)
    frame, rows = read_current(current, sample=sample, on_progress=on_progress)
    result = compare(
        ref,
        frame,
        settings,
        reference_name=shown_reference or str(reference),
        current_name=str(current),
        rows_current=rows,
        optional=optional,
    )
    return result, ref, frame


@dataclass(frozen=True)
class ProjectDefaults:
    root: Path | None
    reference: Path | None  # the training data's profile, saved by the `prepare` stage
    target: str | None


def project_defaults(start: Path) -> ProjectDefaults:
    """The reference profile and target column of the project around `start`, if any."""
    from mlopsctl.core.project import find_project
    from mlopsctl.errors import EnvironmentProblem

    try:
        project = find_project(start)
    except EnvironmentProblem:
        return ProjectDefaults(None, None, None)
    data = project.params().get("data") or {}
    reference = str(data.get("reference_profile") or "data/reference/profile.json")
    target = data.get("target")
    return ProjectDefaults(project.root, project.root / reference, str(target) if target else None)
