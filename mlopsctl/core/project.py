"""Finding the project a command runs in, and what it says about itself."""

from __future__ import annotations

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

    def params(self) -> dict[str, Any]:
        from mlopsctl.core.files import load_yaml

        if not self.params_path.is_file():
            return {}
        loaded = load_yaml(self.params_path.read_text(encoding="utf-8"), "params.yaml")
        return loaded if isinstance(loaded, dict) else {}

    def primary_metric(self) -> str:
        metrics = self.params().get("metrics") or {}
        return str(metrics.get("primary") or DEFAULT_PRIMARY_METRIC)

    def metric_direction(self, metric: str | None = None) -> str:
        """`maximize` or `minimize` for `metric` (default: the primary one): params.yaml's
        `metrics.direction` for the primary metric, else the known direction of the name,
        else maximize."""
        metrics = self.params().get("metrics") or {}
        primary = self.primary_metric()
        name = metric or primary
        declared = metrics.get("direction") if name == primary else None
        if declared in (MAXIMIZE, MINIMIZE):
            return str(declared)
        return KNOWN_DIRECTIONS.get(name.rsplit(".", 1)[-1], MAXIMIZE)

    def artifacts(self, rev: str | None = None) -> dict[str, dict[str, Any]]:
        """`artifacts:` of dvc.yaml (the models the registry knows), in the workspace or at a
        git revision ({} when dvc.yaml is not there)."""
        from mlopsctl.core.files import load_yaml

        if rev is None:
            text = self.dvc_yaml.read_text(encoding="utf-8")
        else:
            from mlopsctl.core.git import show_file

            text = show_file(self.root, rev, self.dvc_yaml.name) or ""
        loaded = load_yaml(text, "dvc.yaml") or {}
        artifacts = loaded.get("artifacts") if isinstance(loaded, dict) else None
        if not isinstance(artifacts or {}, dict) or not all(
            isinstance(v or {}, dict) for v in (artifacts or {}).values()
        ):
            raise BadInput(
                "dvc.yaml `artifacts:` must map each name to its fields (path:, type:)",
                "write it as `artifacts:` then `  demo: {path: models/model.pkl, type: model}`",
            )
        return {str(k): dict(v or {}) for k, v in (artifacts or {}).items()}


def find_project(start: Path | None = None) -> Project:
    """The nearest folder at or above `start` with dvc.yaml and conf/config.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "conf" / "config.yaml").is_file():
            return Project(folder)
        if (folder / ".git").exists():
            break
    raise EnvironmentProblem(
        f"{here} is not inside an mlopsctl project (no dvc.yaml with conf/config.yaml)",
        "cd into a project, or make one with `mlopsctl init PATH`",
    )
