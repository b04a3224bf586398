"""Read the composed parameters that DVC tracks (params.yaml, written by mlopsctl from conf/)."""

from pathlib import Path
from typing import Any

import yaml

# the order of the model's input columns (model.json `features`, the service's inputs)
FEATURE_KINDS = ("numeric", "boolean", "categorical", "datetime")


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict):
        raise SystemExit(f"{path} is empty or not a mapping: run `mlopsctl train` to compose it")
    return params


def features_of(data_cfg: dict[str, Any], kind: str) -> list[str]:
    return list(data_cfg["features"].get(kind) or [])


def feature_columns(data_cfg: dict[str, Any]) -> list[str]:
    return [column for kind in FEATURE_KINDS for column in features_of(data_cfg, kind)]


def task(data_cfg: dict[str, Any]) -> str:
    """binary, multiclass or regression."""
    return str(data_cfg.get("task") or "binary")


def read_raw(path: str | Path) -> Any:
    """The raw dataset (CSV or Parquet), as mlopsctl's `data validate` reads it."""
    import pandas as pd

    name = str(path).lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    sep, decimal = csv_dialect(path)
    # `?` is a missing value, as UCI's files write one (pandas knows NA, N/A, null, ...)
    return pd.read_csv(path, sep=sep, decimal=decimal, na_values=["?", " ?"])


SEPARATORS = (",", ";", "\t", "|")


def csv_dialect(path: str | Path) -> tuple[str, str]:
    """The separator and decimal mark of a CSV, told from its first 64 KiB as mlopsctl does:
    `.tsv` is tab-separated; otherwise the one of `,` `;` tab `|` that splits the header into
    the most fields (a tie goes to the comma). With another separator than the comma, numbers
    all written `3,5` (none `3.5`) mean a decimal comma."""
    import csv
    import gzip
    import re

    name = str(path).lower()
    size = 1 << 16
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
        text = fh.read(size)
    lines = text.splitlines()
    if len(text) == size and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut short
    if ".tsv" in name or not lines:
        sep = "\t" if ".tsv" in name else ","
    else:
        fields = {s: len(next(csv.reader([lines[0]], delimiter=s), [])) for s in SEPARATORS}
        sep = max(SEPARATORS, key=lambda s: (fields[s], s == ","))
    if sep == ",":
        return sep, "."
    comma, point = re.compile(r"[+-]?\d+,\d+"), re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")
    commas = points = 0
    for row in csv.reader(lines[1:], delimiter=sep):
        for value in row:
            if comma.fullmatch(value.strip()):
                commas += 1
            elif point.fullmatch(value.strip()):
                points += 1
    return sep, "," if commas and not points else "."
