"""Finding the project a command runs in, and what it says about itself."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlopsctl.errors import BadInput, EnvironmentProblem

DEFAULT_PRIMARY_METRIC = "f1"
MAXIMIZE, MINIMIZE = "maximize", "minimize"
# the direction of metrics whose name says it; any other metric needs `metrics.direction`
KNOWN_DIRECTIONS = {
    **dict.fromkeys(
        (
            "f1",
            "f1_macro",
            "f1_weighted",
            "accuracy",
            "balanced_accuracy",
            "precision",
            "recall",
            "roc_auc",
            "average_precision",
            "r2",
        ),
        MAXIMIZE,
    ),
    **dict.fromkeys(("rmse", "mse", "mae", "mape", "log_loss", "brier"), MINIMIZE),
}


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def params_path(self) -> Path:
        return self.root / "params.yaml"

    @property
    def dvc_yaml(self) -> Path:
        return self.root / "dvc.yaml"

    def read_yaml(self, name: str, rev: str | None = None) -> dict[str, Any]:
        """The mapping in the project's YAML file `name` (dvc.yaml, params.yaml, dvc.lock), in
        the workspace or at a git revision: {} when the file is not there or empty, BadInput
        when it is not a YAML mapping (the one reader of these files)."""
        from mlopsctl.core.files import load_yaml

        if rev is None:
            path = self.root / name
            text = path.read_text(encoding="utf-8") if path.is_file() else ""
        else:
            from mlopsctl.core.git import show_file

            text = show_file(self.root, rev, name) or ""
        where = name if rev is None else f"{name} at {rev[:12]}"
        loaded = load_yaml(text, where)
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise BadInput(
                f"{where} holds a {type(loaded).__name__}, not a mapping",
                f"fix {name} by hand, or restore it with `git checkout -- {name}`",
            )
        return loaded

    def params(self, rev: str | None = None) -> dict[str, Any]:
        return self.read_yaml(self.params_path.name, rev)

    def pipeline(self, rev: str | None = None) -> dict[str, Any]:
        """dvc.yaml: stages, artifacts, metrics and plots."""
        return self.read_yaml(self.dvc_yaml.name, rev)

    def primary_metric(self) -> str:
        metrics = self.params().get("metrics") or {}
        return str(metrics.get("primary") or DEFAULT_PRIMARY_METRIC)

    def metric_direction(self, metric: str | None = None) -> str:
        """`maximize` or `minimize` for `metric` (default: the primary one): params.yaml's
        `metrics.direction` for the primary metric, else the known direction of the name,
        else maximize."""
        return self.metric_directions([metric] if metric else [])[metric or self.primary_metric()]

    def metric_directions(self, metrics: Iterable[str]) -> dict[str, str]:
        """metric_direction of each of `metrics` and of the primary metric, reading
        params.yaml once. A name DVC prefixed with its file (`metrics.json:rmse`) or nested
        (`test.rmse`) has the direction of its last part."""
        declared_metrics = self.params().get("metrics") or {}
        primary = str(declared_metrics.get("primary") or DEFAULT_PRIMARY_METRIC)
        declared = declared_metrics.get("direction")
        found: dict[str, str] = {}
        for name in {primary, *metrics}:
            last = name.rsplit(":", 1)[-1]
            if last == primary and declared in (MAXIMIZE, MINIMIZE):
                found[name] = str(declared)
            else:
                found[name] = KNOWN_DIRECTIONS.get(last.rsplit(".", 1)[-1], MAXIMIZE)
        return found

    def artifacts(self, rev: str | None = None) -> dict[str, dict[str, Any]]:
        """`artifacts:` of dvc.yaml (the models the registry knows), in the workspace or at a
        git revision ({} when dvc.yaml is not there)."""
        artifacts = self.pipeline(rev).get("artifacts") or {}
        if not isinstance(artifacts, dict) or not all(
            isinstance(v, dict | None) for v in artifacts.values()
        ):
            raise BadInput(
                "`artifacts:` in dvc.yaml is not a mapping of names to {path: ..., type: model}",
                "write it as `artifacts: {NAME: {path: models/model.pkl, type: model}}`",
            )
        return {str(k): dict(v or {}) for k, v in artifacts.items()}


def find_project(start: Path) -> Project:
    """The nearest folder at or above `start` with dvc.yaml and conf/config.yaml (the CLI
    starts from the working directory; the core is always handed its project)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "conf" / "config.yaml").is_file():
            return Project(folder)
        if (folder / ".git").exists():
            break
    raise EnvironmentProblem(
        f"{here} is not inside an mlopsctl project (no dvc.yaml with conf/config.yaml)",
        "cd into a project, or make one with `mlopsctl init PATH`",
    )
