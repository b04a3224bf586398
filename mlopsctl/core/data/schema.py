"""Data schemas: infer a tight pandera schema from a dataset, keep it as YAML, validate against it.

pandera's own inference coerces types, allows extra columns and pins numeric bounds to the
exact observed min/max, so it lets real problems through and raises false alarms. The
schema written here is tightened instead: no coercion, strict columns, allowed values for
low-cardinality strings, nulls only where the data has them, and bounds widened by a
margin (or kept to a sign). The YAML is pandera's own format, so pandera loads it as is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core.data.tables import read_table
from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput, CheckFailed

if TYPE_CHECKING:
    import pandas as pd

SCHEMAS_DIR = Path("data") / "schemas"
# string columns with at most this many distinct values get an `isin` check...
MAX_CATEGORIES = 20
# ...unless the values are mostly distinct (ids, free text in a small sample)
MAX_CATEGORY_SHARE = 0.5
# numeric bounds are the observed range widened by this share of it on each side
BOUND_MARGIN = 0.5
EXAMPLES = 5
# pandera's names for the column-presence checks, said plainly
CHECK_NAMES = {"column_in_schema": "unexpected column", "column_in_dataframe": "missing column"}

SCHEMA_HEADER = """\
# pandera schema for {data}, written by `mlopsctl data schema`.
# Edit it freely: it is yours and lives in git. `mlopsctl data validate` checks the data
# against it (all failures at once); the pipeline's `validate` stage and the `data-valid`
# pre-commit hook run that check. Per column: dtype, nullable, and checks such as
# isin, greater_than_or_equal_to, less_than_or_equal_to, str_matches (see pandera's docs).
# strict: true means a missing or an extra column fails; coerce: false means a wrong
# type fails instead of being converted.
"""


@dataclass
class Failure:
    """One kind of failure: a check on a column, how often it failed, and a few examples."""

    column: str | None
    check: str
    count: int
    examples: list[Any] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)


@dataclass
class ValidationReport:
    data: str
    schema: str
    rows: int
    columns: int
    failures: list[Failure]

    @property
    def valid(self) -> bool:
        return not self.failures

    @property
    def failed_values(self) -> int:
        return sum(f.count for f in self.failures)


@dataclass
class SchemaHints:
    """What is known about the data beyond its values: which column holds classes (all of
    them allowed, no others), which are IDs (unique), and each date column's format."""

    classes: dict[str, list[Any]] = field(default_factory=dict)
    unique: list[str] = field(default_factory=list)
    date_formats: dict[str, str | None] = field(default_factory=dict)


def infer_schema(
    frame: pd.DataFrame, data: str, name: str, hints: SchemaHints | None = None
) -> dict[str, Any]:
    """The tightened schema of `frame`, as the mapping pandera's YAML format holds."""
    hints = hints or SchemaHints()
    columns = {}
    for column in frame.columns:
        key = str(column)
        spec = _infer_column(frame[column])
        if key in hints.classes:
            spec = _classes(spec, hints.classes[key])
        if key in hints.unique:
            spec["unique"] = True
            spec["description"] = "an ID: every row has its own value"
        if key in hints.date_formats:
            spec.update(_date_checks(frame[column], hints.date_formats[key]))
        columns[key] = spec
    return {
        "schema_type": "dataframe",
        "name": name,
        "metadata": {"data": data},
        "columns": columns,
        "coerce": False,
        "strict": True,
    }


def _infer_column(series: pd.Series) -> dict[str, Any]:
    import pandas as pd

    spec: dict[str, Any] = {}
    values = series.dropna()
    spec_nullable = bool(series.isna().any())
    if isinstance(series.dtype, pd.CategoricalDtype):
        # as Parquet keeps a pandas category: `str` would fail it, `category` takes any categories
        spec["dtype"] = "category"
        distinct = values.unique()
        if 0 < len(distinct) <= MAX_CATEGORIES and all(isinstance(v, str) for v in distinct):
            spec["isin"] = sorted(str(v) for v in distinct)
    elif pd.api.types.is_bool_dtype(series):
        # numpy's bool, or pandas' nullable `boolean` (which may hold missing values)
        spec["dtype"] = "bool" if series.dtype == bool else str(series.dtype)
    elif pd.api.types.is_numeric_dtype(series):
        spec["dtype"] = str(series.dtype)
        if len(values):
            spec.update(_bounds(values, integer=pd.api.types.is_integer_dtype(series)))
    elif pd.api.types.is_datetime64_any_dtype(series):
        spec["dtype"] = str(series.dtype)
    elif pd.api.types.is_string_dtype(series) or pd.api.types.infer_dtype(values) == "string":
        # `str` matches pandas' string dtype with either storage and plain object columns
        spec["dtype"] = "str"
        distinct = values.unique()
        if 0 < len(distinct) <= MAX_CATEGORIES and len(distinct) <= MAX_CATEGORY_SHARE * len(
            values
        ):
            spec["isin"] = sorted(str(v) for v in distinct)
    # other object columns (mixed types) get no dtype: pandera checks nulls and presence
    spec["nullable"] = spec_nullable
    return spec


def _classes(spec: dict[str, Any], classes: list[Any]) -> dict[str, Any]:
    """A target's classes as an `isin` check: a new class fails instead of fitting a range."""
    kept = {k: v for k, v in spec.items() if k in ("dtype", "nullable")}
    values = sorted(classes, key=lambda v: (str(type(v)), v))
    if spec.get("dtype") == "str":
        values = [str(v) for v in values]
    return {
        "dtype": kept.get("dtype"),
        "isin": values,
        "description": "the target's classes",
        "nullable": kept.get("nullable", False),
    }


def _date_checks(series: pd.Series, fmt: str | None) -> dict[str, Any]:
    """A date column's format (every value matches it) and its range, widened as numbers are."""
    import pandas as pd

    from mlopsctl.core.data.infer import DATE_FORMATS

    values = series.dropna()
    if fmt is None or values.empty or pd.api.types.is_datetime64_any_dtype(series):
        return {"description": "dates"}
    zoned = "%z" in fmt  # offsets may differ from row to row: compare in UTC
    parsed = pd.to_datetime(values.astype(str), format=fmt, errors="coerce", utc=zoned).dropna()
    low, high = parsed.min(), parsed.max()
    # the range as text of the same shape, without the zone and the fraction
    shown = fmt.replace(".%f", "").replace("%z", "")
    checks: dict[str, Any] = {
        "str_matches": DATE_FORMATS.get(fmt, ".+"),
        "description": f"dates in format {fmt}, seen {low.strftime(shown)} .. "
        f"{high.strftime(shown)}",
    }
    if fmt.startswith("%Y-%m-%d"):  # these sort as text: the range is a text range
        margin = (high - low) * BOUND_MARGIN or pd.Timedelta(days=365)
        checks["greater_than_or_equal_to"] = (low - margin).strftime(shown)
        checks["less_than_or_equal_to"] = (high + margin).strftime(shown)
    return checks


def _bounds(values: pd.Series, *, integer: bool) -> dict[str, Any]:
    """Bounds that catch a wrong unit or sign, not the next sample's new extreme."""
    low, high = float(values.min()), float(values.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        return {}
    margin = (high - low) * BOUND_MARGIN or max(abs(high), 1.0) * BOUND_MARGIN
    lower = 0.0 if low >= 0 else _round_out(low - margin, down=True)
    upper = _round_out(high + margin, down=False)
    if integer:
        return {
            "greater_than_or_equal_to": math.floor(lower),
            "less_than_or_equal_to": math.ceil(upper),
        }
    return {"greater_than_or_equal_to": lower, "less_than_or_equal_to": upper}


def _round_out(value: float, *, down: bool) -> float:
    """Round away from the data to two significant digits, so a person can read the bound."""
    if value == 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(abs(value))) - 1)
    rounded = (math.floor if down else math.ceil)(value / step) * step
    return float(f"{rounded:.12g}")


def render_schema(schema: dict[str, Any]) -> str:
    import yaml

    header = SCHEMA_HEADER.format(data=schema.get("metadata", {}).get("data", "the data"))
    return header + yaml.safe_dump(schema, sort_keys=False, default_flow_style=False, width=100)


def schema_path(root: Path, name: str) -> Path:
    return root / SCHEMAS_DIR / f"{name}.yaml"


def write_schema(
    root: Path,
    data_path: Path,
    name: str | None = None,
    force: bool = False,
    hints: SchemaHints | None = None,
    frame: pd.DataFrame | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Infer the schema of `data_path` and write it to data/schemas/<name>.yaml."""
    data_path = data_path.resolve()
    rel = project_relative(root, data_path)
    name = name or data_path.name.split(".")[0]
    if not name or "/" in name or name.startswith("."):
        raise BadInput(f"invalid schema name {name!r}", "use a plain file name, e.g. --name train")
    out = schema_path(root, name)
    if out.exists() and not force:
        raise BadInput(
            f"{out.relative_to(root)} already exists",
            "pass --force to replace it, or --name to write another schema",
        )
    frame = read_table(data_path) if frame is None else frame
    if hints is None:
        hints = project_hints(root, frame)
    schema = infer_schema(frame, rel, name, hints)
    write_atomic(out, render_schema(schema))
    return out, schema


def project_hints(root: Path, frame: pd.DataFrame) -> SchemaHints:
    """Hints from the project's composed params (params.yaml `data`): the target's classes
    unless the task is regression, and the configured date formats."""
    import yaml

    try:
        params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return SchemaHints()
    data = params.get("data") if isinstance(params, dict) else None
    if not isinstance(data, dict):
        return SchemaHints()
    hints = SchemaHints(date_formats=dict(data.get("date_formats") or {}))
    target = data.get("target")
    if target in frame.columns and data.get("task", "binary") != "regression":
        hints.classes[str(target)] = [_plain(v) for v in frame[target].dropna().unique()]
    hints.unique = [str(c) for c in data.get("id_columns") or [] if c in frame.columns]
    return hints


def project_relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError as exc:
        raise BadInput(
            f"{path} is outside the project {root}",
            "keep the project's data inside it (e.g. under data/)",
        ) from exc


def read_schema_file(path: Path) -> dict[str, Any]:
    from mlopsctl.core.files import load_yaml

    if not path.is_file():
        raise BadInput(f"{path}: no such schema", "write one with `mlopsctl data schema DATA`")
    loaded = load_yaml(_text(path), str(path))
    if not isinstance(loaded, dict) or not isinstance(loaded.get("columns"), dict):
        raise BadInput(f"{path} is not a pandera schema (no `columns:`)", "fix the file")
    return loaded


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path} is not UTF-8 text", "save the schema as UTF-8") from exc


def load_schema(path: Path) -> Any:
    """The pandera DataFrameSchema in the YAML file at `path`."""
    from pandera.io.pandas_io import deserialize_schema

    try:
        return deserialize_schema(read_schema_file(path))
    except BadInput:
        raise
    except Exception as exc:  # pandera: unknown dtype, unknown check, bad arguments
        raise BadInput(f"{path} is not a valid pandera schema: {exc}", "fix the file") from exc


def schemas(root: Path) -> dict[str, Path]:
    """Every schema in data/schemas/, by the data file it describes (project-relative); a
    schema that is not valid YAML is bad input naming it (not "no schemas")."""
    from mlopsctl.core.files import load_yaml

    found: dict[str, Path] = {}
    folder = root / SCHEMAS_DIR
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        loaded = load_yaml(_text(path), project_relative(root, path)) or {}
        data = (loaded.get("metadata") or {}).get("data") if isinstance(loaded, dict) else None
        if isinstance(data, str):
            found.setdefault(data, path)
    return found


def schema_for(root: Path, data_path: Path) -> Path | None:
    """The schema that names `data_path` in its metadata, else data/schemas/<stem>.yaml."""
    known = schemas(root)
    named = known.get(project_relative(root, data_path))
    if named is not None:
        return named
    by_stem = schema_path(root, data_path.name.split(".")[0])
    return by_stem if by_stem.is_file() and by_stem not in known.values() else None


def validate_frame(frame: pd.DataFrame, schema: Any) -> list[Failure]:
    """All failures at once (pandera's lazy mode), grouped by column and check."""
    import pandera.errors

    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pandera.errors.SchemaErrors as exc:
        return _group_failures(exc.failure_cases)
    except pandera.errors.SchemaError as exc:  # pragma: no cover - lazy collects them all
        return [Failure(None, str(exc).splitlines()[0], 1)]
    return []


def _group_failures(cases: pd.DataFrame) -> list[Failure]:
    import pandas as pd

    failures = []
    presence = cases["check"].isin(list(CHECK_NAMES))
    for check, name in zip(cases["check"][presence], cases["failure_case"][presence], strict=True):
        failures.append(Failure(column=str(name), check=CHECK_NAMES[str(check)], count=1))
    cases = cases[~presence]
    for (column, check), group in cases.groupby(
        [cases["column"].astype(object).fillna(""), cases["check"].astype(str)],
        sort=False,
        dropna=False,
    ):
        examples = []
        for value in group["failure_case"]:
            shown = None if pd.isna(value) else _plain(value)
            if shown not in examples:
                examples.append(shown)
            if len(examples) == EXAMPLES:
                break
        rows = [int(i) for i in group["index"].dropna().head(EXAMPLES) if _is_int(i)]
        failures.append(
            Failure(
                column=str(column) or None,
                check=str(check),
                count=len(group),
                examples=examples,
                rows=rows,
            )
        )
    return failures


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    value = item() if callable(item) else value
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def _is_int(value: Any) -> bool:
    try:
        return float(value).is_integer()
    except (TypeError, ValueError):
        return False


def validate_data(
    data_path: Path,
    schema_file: Path,
    shown_as: str | None = None,
    schema_shown_as: str | None = None,
) -> ValidationReport:
    """Validate the dataset at `data_path` against the schema YAML at `schema_file`."""
    schema = load_schema(schema_file)
    frame = read_table(data_path)
    failures = validate_frame(frame, schema)
    return ValidationReport(
        data=shown_as or str(data_path),
        schema=schema_shown_as or str(schema_file),
        rows=len(frame),
        columns=len(frame.columns),
        failures=failures,
    )


def validate_datasets(
    path: Path | None, schema_file: Path | None, start: Path
) -> list[ValidationReport]:
    """Validate PATH against SCHEMA, or find the one missing from the other (in the project
    around `start`); with neither, every dataset that has a schema in data/schemas/."""
    from mlopsctl.core.project import find_project

    if path is not None and schema_file is not None:
        return [validate_data(path, schema_file, shown_as=str(path))]
    root = find_project(start).root
    if schema_file is not None:
        data = (read_schema_file(schema_file).get("metadata") or {}).get("data")
        if not data:
            raise BadInput(f"{schema_file} does not say which data it describes", "give PATH too")
        return [validate_data(root / data, schema_file, shown_as=data)]
    if path is not None:
        found = schema_for(root, path)
        if found is None:
            raise BadInput(
                f"no schema for {path} in data/schemas/",
                f"write one with `mlopsctl data schema {path}`, or pass --schema",
            )
        return [
            validate_data(
                path, found, shown_as=str(path), schema_shown_as=str(found.relative_to(root))
            )
        ]
    known = schemas(root)
    if not known:
        raise BadInput("no schemas in data/schemas/", "write one with `mlopsctl data schema PATH`")
    return [
        validate_data(root / data, file, shown_as=data, schema_shown_as=str(file.relative_to(root)))
        for data, file in known.items()
    ]


def require_valid(reports: list[ValidationReport]) -> None:
    """CheckFailed naming the first dataset that does not match its schema."""
    bad = [r for r in reports if not r.valid]
    if bad:
        first = bad[0]
        raise CheckFailed(
            f"{first.data} does not match {first.schema}: "
            f"{len(first.failures)} failed checks, {first.failed_values} failing values"
            + (f" (and {len(bad) - 1} more datasets)" if len(bad) > 1 else ""),
            "fix the data, or edit the schema if the data is right",
        )
