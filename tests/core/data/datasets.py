"""Small realistic tables written by the tests themselves: missing values, string categories,
dates, ID-like and constant columns, an empty column, an imbalanced multiclass target and a
regression target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def customers(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "row": np.arange(rows),
            "age": rng.integers(18, 80, rows).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], rows, p=[0.6, 0.3, 0.1]),
            "active": rng.choice([True, False], rows),
            "signup": (
                pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, rows), unit="D")
            ).strftime("%Y-%m-%d"),
            "country": "DE",
            "notes": np.nan,
            "spend": rng.gamma(2.0, 50.0, rows).round(2),
        }
    )
    frame.loc[rng.choice(rows, rows // 10, replace=False), "age"] = np.nan
    frame.loc[rng.choice(rows, rows // 20, replace=False), "plan"] = None
    score = frame["spend"] / 100 + (frame["plan"] == "pro") + rng.normal(0, 0.4, rows)
    # imbalanced: about 55% low, 30% mid, 15% high
    frame["segment"] = np.select([score > 2.2, score > 1.1], ["high", "mid"], "low")
    frame["revenue"] = (frame["spend"] * 3 + 40 * (frame["plan"] == "team")).round(2) + rng.normal(
        0, 15, rows
    ).round(2)
    return frame


def write_classification(path: Path, rows: int = 300, missing_target: int = 6) -> Path:
    frame = customers(rows).drop(columns=["revenue"])
    frame.loc[frame.index[:missing_target], "segment"] = None
    frame.to_csv(path, index=False)
    return path


def write_regression(path: Path, rows: int = 300, **to_csv: str) -> Path:
    customers(rows).drop(columns=["segment"]).to_csv(path, index=False, **to_csv)
    return path
