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
    return pd.read_csv(path, sep="\t" if ".tsv" in name else ",")
