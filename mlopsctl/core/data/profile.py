"""Per-column statistics of a dataset, saved as JSON: the reference that drift checks compare to.

The JSON shape is documented in docs/data.md and versioned by `format`; it holds no
timestamps, so the same data always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlopsctl.core.data.tables import read_table
from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

PROFILE_FORMAT = "mlopsctl.profile/1"
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
HISTOGRAM_BINS = 10
# numeric columns also keep 100 quantiles, at the middle of each percent (0.005 ... 0.995):
# enough for an accurate Wasserstein distance without the data (see core/drift.py)
PERCENTILES = 100
# integer columns with at most this many values also keep their frequencies: drift checks
# treat them as categories
CATEGORICAL_INTEGERS = 10
# categorical columns keep the frequencies of this many most common values; the rest is "other"
MAX_FREQUENCIES = 50


def profile_frame(frame: pd.DataFrame, data: str) -> dict[str, Any]:
    return {
        "format": PROFILE_FORMAT,
        "data": data,
        "rows": len(frame),
        "columns": {str(c): profile_column(frame[c]) for c in frame.columns},
    }


def profile_column(series: pd.Series, categorical: bool = False) -> dict[str, Any]:
    """One column's statistics; `categorical` counts the values of a numeric column too."""
    import pandas as pd

    values = series.dropna()
    stats: dict[str, Any] = {
        "kind": "categorical",
        "dtype": "str" if pd.api.types.is_string_dtype(series) else str(series.dtype),
        "count": len(values),
        "missing": int(len(series) - len(values)),
        "unique": int(values.nunique()),
    }
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        stats["kind"] = "numeric"
        stats.update(_numeric(values.astype("float64")))
        if categorical or (
            pd.api.types.is_integer_dtype(series) and stats["unique"] <= CATEGORICAL_INTEGERS
        ):
            stats.update(_categorical(values))
    elif pd.api.types.is_datetime64_any_dtype(series):
        stats["kind"] = "datetime"
        stats["min"] = None if values.empty else values.min().isoformat()
        stats["max"] = None if values.empty else values.max().isoformat()
    else:
        stats.update(_categorical(values))
    return stats


def _numeric(values: pd.Series) -> dict[str, Any]:
    import numpy as np

    finite = values[np.isfinite(values.to_numpy())]
    if finite.empty:
        return {"mean": None, "std": None, "min": None, "max": None, "quantiles": {}}
    counts, edges = np.histogram(finite.to_numpy(), bins=HISTOGRAM_BINS)
    return {
        "mean": _number(finite.mean()),
        "std": _number(finite.std()),
        "min": _number(finite.min()),
        "max": _number(finite.max()),
        "quantiles": {str(q): _number(v) for q, v in finite.quantile(list(QUANTILES)).items()},
        "histogram": {
            "edges": [_number(e) for e in edges],
            "counts": [int(c) for c in counts],
        },
        "percentiles": [_number(v) for v in np.quantile(finite.to_numpy(), percentile_points())],
    }


def percentile_points() -> Any:
    """Where `percentiles` are taken: the middle of each percent, 0.005 ... 0.995."""
    import numpy as np

    return (np.arange(PERCENTILES) + 0.5) / PERCENTILES


def category_keys(values: pd.Series) -> pd.Series:
    """Non-missing values as the strings frequencies are keyed by (3.0 and 3 are both "3")."""
    import pandas as pd

    values = values.dropna()
    if pd.api.types.is_float_dtype(values) and bool((values == values.round()).all()):
        finite = values[values.abs() < 2**53]
        if len(finite) == len(values):
            return values.astype("int64").astype(str)
    return values.astype(str)


def _categorical(values: pd.Series) -> dict[str, Any]:
    counts = category_keys(values).value_counts(sort=True)
    total = int(counts.sum())
    # ties in count are ordered by value, so the output does not depend on row order
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = ordered[:MAX_FREQUENCIES]
    other = total - sum(int(c) for _, c in kept)
    return {
        "top": [{"value": v, "count": int(c)} for v, c in kept[:5]],
        "frequencies": {v: round(int(c) / total, 6) for v, c in kept} if total else {},
        "other": round(other / total, 6) if total else 0.0,
    }


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def profile_data(path: Path, shown_as: str | None = None) -> dict[str, Any]:
    return profile_frame(read_table(path), shown_as or str(path))


def write_profile(profile: dict[str, Any], out: Path, force: bool = False) -> None:
    """Save a profile; never over a file that is not an mlopsctl profile unless `force`."""
    if out.exists() and not force and not _is_profile(out):
        raise BadInput(
            f"{out} exists and is not an mlopsctl profile",
            "choose another --output, or pass --force to replace it",
        )
    write_atomic(out, json.dumps(profile, indent=2, allow_nan=False) + "\n")


def _is_profile(path: Path) -> bool:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(loaded, dict) and str(loaded.get("format", "")).startswith("mlopsctl.profile")
