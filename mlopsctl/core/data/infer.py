"""What a user's dataset allows: the task its target asks for, the features it offers, and a
first promotion gate, each decision with the reason a person can read and change.

`init --data` and `data use` call `infer_plan`; the CLI only prints the decisions, and
`plan_files.render_data_config` writes them into conf/data/ as YAML with one comment per decision.
Every check on the input runs here, before anything is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core.data.tables import (
    PARQUET_SUFFIXES,
    CsvDialect,
    csv_dialect,
    open_text,
    read_table,
)
from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

TASKS = ("auto", "binary", "multiclass", "regression")
# the template's split (conf/data: test_size, split_seed = seed)
TEST_SIZE = 0.2
SEED = 42
MIN_ROWS = 20
# an integer or string target with at most this many values is a set of classes
MAX_CLASSES = 20
# a string column with at most this many values (or this share of the rows) is categorical
MAX_CATEGORIES = 100
MAX_CATEGORY_SHARE = 0.05
# values parsed to tell a date column and its format (the whole column is matched after)
DATE_SAMPLE = 500
# rows a column's kind is told from (constant, unique and date columns are checked in full)
SAMPLE_ROWS = 50_000
# what the first gate asks beyond the best dummy model
CLASSIFICATION_HEADROOM = 0.1  # of the distance from the dummy's score to a perfect 1.0
REGRESSION_GAIN = 0.05  # lower error than predicting the training mean, as a share
POSITIVE_NAMES = ("1", "true", "yes", "y", "positive", "pos")

# strptime format -> the regex a whole value must match (checked on every row)
DATE_FORMATS: dict[str, str] = {
    "%Y-%m-%d": r"\d{4}-\d{2}-\d{2}",
    "%Y-%m-%d %H:%M:%S": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "%Y-%m-%dT%H:%M:%S": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}",
    "%Y-%m-%d %H:%M": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}",
    "%Y-%m-%dT%H:%M": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}",
    # ISO 8601 with fractions of a second, or with a zone (Z, +01:00, +0100)
    "%Y-%m-%d %H:%M:%S.%f": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{1,6}",
    "%Y-%m-%dT%H:%M:%S.%f": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}",
    "%Y-%m-%dT%H:%M:%S%z": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:?\d{2})",
    "%Y-%m-%d %H:%M:%S%z": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:?\d{2})",
    "%Y-%m-%dT%H:%M:%S.%f%z": (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}(?:Z|[+-]\d{2}:?\d{2})"
    ),
    "%Y/%m/%d": r"\d{4}/\d{2}/\d{2}",
    "%d/%m/%Y": r"\d{2}/\d{2}/\d{4}",
    "%m/%d/%Y": r"\d{2}/\d{2}/\d{4}",
    "%d.%m.%Y": r"\d{2}\.\d{2}\.\d{4}",
}
DATE_PARTS = ("year", "month", "day_of_week", "days_since_1970")


@dataclass(frozen=True)
class Decision:
    """What became of one column, and why."""

    column: str
    kind: str  # target, numeric, boolean, categorical, datetime, or left out: id, constant, ...
    reason: str

    @property
    def used(self) -> bool:
        return self.kind in FEATURE_KINDS


FEATURE_KINDS = ("numeric", "boolean", "categorical", "datetime")


@dataclass
class DataPlan:
    source: Path
    target: str
    task: str  # binary, multiclass, regression
    task_reason: str
    rows: int
    missing_target: int
    decisions: list[Decision]
    classes: list[Any] = field(default_factory=list)
    positive_class: Any = None
    date_formats: dict[str, str] = field(default_factory=dict)
    primary_metric: str = "f1"
    direction: str = "maximize"
    baseline: float = 0.0
    baseline_model: str = ""
    threshold: float = 0.0
    # how a CSV that is not plainly comma-separated is read ("semicolon-separated, ...")
    read_as: str = ""

    @property
    def features(self) -> dict[str, list[str]]:
        return {
            kind: [d.column for d in self.decisions if d.kind == kind] for kind in FEATURE_KINDS
        }

    @property
    def ids(self) -> list[str]:
        return [d.column for d in self.decisions if d.kind == "id"]

    @property
    def threshold_rule(self) -> str:
        op = ">=" if self.direction == "maximize" else "<="
        return f"{self.primary_metric} {op} {self.threshold:g}"

    @property
    def gate_note(self) -> str:
        """Where the first gate's threshold comes from (a comment beside it)."""
        found = (
            f"{self.baseline_model} scores {self.primary_metric} {self.baseline:.4g} "
            "on this data's test split"
        )
        if self.direction == "minimize":
            return f"{found}: the gate asks for an error {REGRESSION_GAIN:.0%} lower"
        return f"{found}: the gate asks for a tenth of the way from there to 1.0"

    @property
    def champion_rule(self) -> str:
        if self.direction == "maximize":
            return f"{self.primary_metric} >= champion - 0.005"
        # an error's tolerance in the target's own unit: half a percent of the baseline's
        return f"{self.primary_metric} <= champion + {_significant(self.baseline * 0.005):g}"


def infer_plan(path: Path, target: str, task: str = "auto") -> tuple[DataPlan, pd.DataFrame]:
    """The plan for the dataset at `path` and its frame as pandas reads it (read once)."""
    if task not in TASKS:
        raise BadInput(f"unknown task {task!r}", f"choose one of: {', '.join(TASKS)}")
    dialect = _check_header(path)
    frame = _read(path)
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:8]))
        raise BadInput(
            f"{path} has no column {target!r}",
            f"pass --target with one of its columns: {shown}"
            + (", ..." if len(frame.columns) > 8 else ""),
        )
    labelled = frame[target].notna()
    rows = int(labelled.sum())
    chosen, reason, classes = _task(frame[target][labelled], task, target)
    if rows < MIN_ROWS:
        raise BadInput(
            f"{path} has {rows} rows with a {target!r} value: too few to split into "
            f"train and test sets",
            f"give at least {MIN_ROWS} rows with a target",
        )
    decisions = [Decision(target, "target", reason)]
    plan = DataPlan(
        source=path,
        target=target,
        task=chosen,
        task_reason=reason,
        rows=len(frame),
        missing_target=len(frame) - rows,
        decisions=decisions,
        classes=classes,
        read_as=_read_as(dialect),
    )
    sample = _sample(frame)
    for column in frame.columns:
        if column != target:
            decisions.append(_column(frame[column], sample[column], str(column), plan))
    if not any(d.used for d in decisions):
        left = "; ".join(f"{d.column}: {d.reason}" for d in decisions[1:]) or "no other columns"
        raise BadInput(
            f"{path} has no column to learn from ({left})", "add feature columns to the data"
        )
    if chosen != "regression":
        _check_classes(frame[target][labelled], path, target)
        plan.positive_class = (
            _positive(frame[target][labelled], classes) if chosen == "binary" else None
        )
    _baseline(plan, frame[labelled])
    return plan, frame


def _check_header(path: Path) -> CsvDialect | None:
    """Duplicate column names (pandas would rename them) and non-UTF-8 text, said plainly;
    the CSV's dialect (None for Parquet, or a file read_table will say is unreadable)."""
    import csv

    if path.name.lower().endswith(PARQUET_SUFFIXES) or not path.is_file():
        return None
    try:
        dialect = csv_dialect(path)
        with open_text(path) as fh:
            header = next(csv.reader(fh, delimiter=dialect.sep), [])
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from exc
    except (OSError, EOFError):
        return None  # read_table says what is wrong with the file
    from collections import Counter

    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise BadInput(
            f"{path} has duplicate column names: {', '.join(duplicates)}",
            "give every column its own name in the file's header",
        )
    return dialect


def _read_as(dialect: CsvDialect | None) -> str:
    """How the file was read, when it is a CSV that is not plainly comma-separated."""
    if dialect is None or (dialect.sep, dialect.decimal) == (",", "."):
        return ""
    return dialect.describe()


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> BadInput:
    return BadInput(
        f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})",
        "convert it, e.g. `iconv -f latin1 -t utf-8 IN > OUT`, and give the converted file",
    )


def _read(path: Path) -> pd.DataFrame:
    try:
        return read_table(path)
    except BadInput as exc:
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):
            raise _not_utf8(path, cause) from cause
        raise


def _task(values: pd.Series, task: str, target: str) -> tuple[str, str, list[Any]]:
    import pandas as pd

    distinct = values.unique()
    n = len(distinct)
    if n < 2:
        shown = repr(_plain(distinct[0])) if n else "none"
        raise BadInput(
            f"the target {target!r} has one value ({shown}): there is nothing to predict",
            "choose another --target, or add rows of the other classes",
        )
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    integral = numeric and bool((values == values.round()).all())
    classes = sorted((_plain(v) for v in distinct), key=lambda v: (str(type(v)), v))
    if task != "auto":
        if task == "regression":
            if not numeric:
                raise BadInput(
                    f"the target {target!r} is not numeric: it cannot be a regression target",
                    "use --task auto (classification), or choose a numeric --target",
                )
            return task, "regression (--task)", []
        if task == "binary" and n != 2:
            raise BadInput(
                f"the target {target!r} has {n} classes, not 2",
                "use --task multiclass, or --task auto",
            )
        if numeric and not integral:
            raise BadInput(
                f"the target {target!r} has fractional values: they are not classes",
                "use --task regression or --task auto",
            )
        return task, f"{task} classification (--task), {n} classes", classes
    if not numeric:
        kind = "binary" if n == 2 else "multiclass"
        return kind, f"{kind} classification: {n} distinct non-numeric values", classes
    if integral and n <= MAX_CLASSES:
        kind = "binary" if n == 2 else "multiclass"
        return (
            kind,
            f"{kind} classification: {n} distinct whole numbers (at most {MAX_CLASSES} are "
            "classes; --task regression to predict them as numbers)",
            classes,
        )
    why = "fractional values" if not integral else f"{n} distinct whole numbers"
    return "regression", f"regression: numeric with {why}", []


def _check_classes(values: pd.Series, path: Path, target: str) -> None:
    counts = values.value_counts()
    rare = [str(_plain(c)) for c, k in counts.items() if k < 2]
    if rare:
        raise BadInput(
            f"class {', '.join(rare[:5])} of {target!r} in {path} has a single row: too few "
            "for a stratified train/test split",
            "drop or merge that class's rows, or add more of them",
        )
    test_rows = math.ceil(len(values) * TEST_SIZE)
    if test_rows < len(counts):
        raise BadInput(
            f"{path} has {len(values)} labelled rows: too few for a test split holding each "
            f"of the {len(counts)} classes",
            f"give at least {math.ceil(len(counts) / TEST_SIZE)} rows with a target",
        )


def _positive(values: pd.Series, classes: list[Any]) -> Any:
    """The class f1, precision and recall are about: a `1`/`true`/`yes` class, else the
    rarer one."""
    for cls in classes:
        if str(cls).strip().lower() in POSITIVE_NAMES:
            return cls
    counts = values.map(_plain).value_counts()
    return min(classes, key=lambda c: (counts.get(c, 0), str(c)))


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    """The same SAMPLE_ROWS random rows of every column (drawn once)."""
    import numpy as np

    if len(frame) <= SAMPLE_ROWS:
        return frame
    rows = np.random.default_rng(SEED).choice(len(frame), SAMPLE_ROWS, replace=False)
    return frame.iloc[np.sort(rows)]


def _column(series: pd.Series, sample: pd.Series, name: str, plan: DataPlan) -> Decision:
    """One column's fate, told from a sample of its rows; what the sample suggests about the
    whole column (constant, unique, dates in one format) is then checked on every row."""
    import pandas as pd

    rows = len(series)
    present = int(series.notna().sum())
    if present == 0:
        return Decision(name, "empty", "left out: every value is missing")
    seen = sample.dropna()
    if seen.empty:  # a sample of gaps: look at the values there are
        seen = series.dropna().head(SAMPLE_ROWS)
    first = seen.iloc[0]
    if seen.nunique() == 1 and bool((series.dropna() == first).all()):
        return Decision(name, "constant", f"left out: one value ({_plain(first)!r}) in every row")
    missing = f", {rows - present} missing" if present < rows else ""
    if pd.api.types.is_bool_dtype(series) or (
        _is_boolean_object(seen) and _is_boolean_object(series.dropna())
    ):
        return Decision(name, "boolean", f"boolean (true/false as 1/0){missing}")
    if pd.api.types.is_datetime64_any_dtype(series):
        return Decision(name, "datetime", _date_reason("stored as datetimes", missing))
    # an ID: whole numbers or text, unique in every row (floats are unique by nature)
    unique = (
        present == rows
        and not pd.api.types.is_float_dtype(series)
        and seen.is_unique
        and series.is_unique
    )
    if pd.api.types.is_numeric_dtype(series):
        if pd.api.types.is_integer_dtype(series) and unique:
            return Decision(name, "id", "left out: whole numbers unique in every row (an ID)")
        return Decision(name, "numeric", f"numeric ({series.dtype}){missing}")
    date_format = _date_format(seen.astype(str), name)
    if date_format is not None:
        _check_dates(series.dropna().astype(str), name, date_format)
        plan.date_formats[name] = date_format
        return Decision(name, "datetime", _date_reason(f"dates in format {date_format}", missing))
    if unique:
        return Decision(name, "id", "left out: text unique in every row (an ID)")
    distinct = seen.nunique()
    if distinct <= MAX_CATEGORIES or distinct <= MAX_CATEGORY_SHARE * len(seen):
        distinct = series.nunique()
        return Decision(name, "categorical", f"categorical ({distinct} values){missing}")
    return Decision(
        name,
        "text",
        f"left out: {distinct} distinct text values in a sample of {len(seen)} (free text or "
        "an ID-like code, too many to encode as categories)",
    )


def _date_reason(what: str, missing: str) -> str:
    return f"{what}{missing}: the model sees {', '.join(DATE_PARTS)}"


def _is_boolean_object(values: pd.Series) -> bool:
    """True/False with gaps (pandas keeps such a column as objects); a sample first, so a
    text column costs nothing."""
    if values.dtype != object or not all(isinstance(v, bool) for v in values.iloc[:100]):
        return False
    return bool(values.map(type).isin([bool]).all())


def _date_format(strings: pd.Series, name: str) -> str | None:
    """The one strptime format every value of a date column has, or None for other text;
    dates in several formats are bad input (a model cannot compare them)."""
    sample = strings.sample(min(DATE_SAMPLE, len(strings)), random_state=SEED)
    matching = [fmt for fmt in DATE_FORMATS if _parses(sample, fmt)]
    if not matching:
        found = [fmt for fmt in DATE_FORMATS if sample.str.fullmatch(DATE_FORMATS[fmt]).any()]
        share = sample.str.fullmatch("|".join(DATE_FORMATS.values())).mean()
        if found and share >= 0.5:
            raise BadInput(
                f"column {name!r} holds dates in more than one format ({', '.join(found[:3])})",
                "write every date in one format (e.g. 2024-01-31) and try again",
            )
        return None
    return matching[0]


def _check_dates(strings: pd.Series, name: str, fmt: str) -> None:
    full = strings.str.fullmatch(DATE_FORMATS[fmt])
    if not full.all():
        bad = strings[~full].iloc[0]
        raise BadInput(
            f"column {name!r} holds dates in more than one format: {bad!r} is not {fmt}",
            "write every date in one format (e.g. 2024-01-31) and try again",
        )


def _parses(sample: pd.Series, fmt: str) -> bool:
    if not sample.str.fullmatch(DATE_FORMATS[fmt]).all():
        return False
    try:
        for value in sample:
            datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def _baseline(plan: DataPlan, frame: pd.DataFrame) -> None:
    """The best dummy model's primary metric on the template's split, and a first gate a
    little beyond it."""
    import numpy as np
    import pandas as pd
    from sklearn import metrics as skm
    from sklearn.model_selection import train_test_split

    if plan.task == "regression":
        train, test = train_test_split(frame[plan.target], test_size=TEST_SIZE, random_state=SEED)
        plan.primary_metric, plan.direction = "rmse", "minimize"
        predicted = np.full(len(test), float(train.mean()))
        plan.baseline = float(np.sqrt(skm.mean_squared_error(test, predicted)))
        plan.baseline_model = "DummyRegressor (the training mean)"
        plan.threshold = _significant(plan.baseline * (1 - REGRESSION_GAIN))
        return
    # classes as integer codes: the same split as the template's, without hashing objects
    codes, uniques = pd.factorize(frame[plan.target], sort=True)
    labels = [_plain(u) for u in uniques]
    train, test = train_test_split(codes, test_size=TEST_SIZE, random_state=SEED, stratify=codes)
    plan.primary_metric, plan.direction = "f1", "maximize"
    average = "binary" if plan.task == "binary" else "macro"
    pos = labels.index(plan.positive_class) if plan.task == "binary" else 1
    counts = np.bincount(train, minlength=len(labels))
    majority = int(counts.argmax())
    candidates = {f"DummyClassifier (always {labels[majority]!r})": np.full(len(test), majority)}
    if plan.task == "binary":
        candidates[f"DummyClassifier (always {labels[pos]!r})"] = np.full(len(test), pos)
    rng = np.random.default_rng(SEED)
    candidates["DummyClassifier (stratified guesses)"] = rng.choice(
        len(labels), size=len(test), p=counts / counts.sum()
    )
    every = list(range(len(labels)))
    scored = {
        name: float(
            skm.f1_score(test, guess, labels=every, average=average, pos_label=pos, zero_division=0)
        )
        for name, guess in candidates.items()
    }
    plan.baseline_model, plan.baseline = max(scored.items(), key=lambda kv: kv[1])
    gate = plan.baseline + CLASSIFICATION_HEADROOM * (1 - plan.baseline)
    plan.threshold = math.floor(gate * 1000) / 1000


def _significant(value: float, digits: int = 3) -> float:
    if value == 0 or not math.isfinite(value):
        return 0.0
    return float(f"{value:.{digits}g}")


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value
