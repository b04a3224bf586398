"""Read the composed parameters that DVC tracks (params.yaml, written by mlopsctl from conf/)."""

from pathlib import Path
from typing import Any

import yaml


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        params = yaml.safe_load(fh)
    if not isinstance(params, dict):
        raise SystemExit(f"{path} is empty or not a mapping: run `mlopsctl train` to compose it")
    return params


def feature_columns(data_cfg: dict[str, Any]) -> list[str]:
    features = data_cfg["features"]
    return list(features.get("numeric") or []) + list(features.get("categorical") or [])
