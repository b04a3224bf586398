"""Reading a project's metrics from the workspace or any git revision / experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlopsctl.errors import BadInput


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}: how DVC names nested metrics and params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def read_metrics(root: Path, rev: str | None = None) -> dict[str, Any]:
    """The metrics DVC declares (`metrics:` in dvc.yaml), flattened; {} if there are none.

    `rev` is any git revision or experiment name; None reads the workspace."""
    import dvc.api

    from mlopsctl.core.dvcrepo import quiet_dvc

    try:
        with quiet_dvc():
            values = dvc.api.metrics_show(repo=str(root), rev=rev)
    except Exception as exc:
        if rev is None:
            return {}
        raise BadInput(f"cannot read metrics at {rev!r}: {exc}", "check the revision name") from exc
    return flatten(values)
