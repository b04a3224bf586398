"""`mlopsctl data use FILE --target COLUMN`: switch a project to another dataset.

The same inference as `init --data` (data/infer.py); the old dataset's DVC pointer and schema
are removed (git history keeps them), the new data is tracked with DVC, conf/data, the
primary metric and the first gates are rewritten, and everything is left staged in git as
one step the user commits. Every check runs before anything changes.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlopsctl.core import config
from mlopsctl.core import git as vcs
from mlopsctl.core.data.infer import DataPlan, infer_plan
from mlopsctl.core.data.plan_files import render_data_config, schema_hints
from mlopsctl.core.files import write_atomic
from mlopsctl.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

DATA_CONFIG = Path("conf") / "data" / "default.yaml"
PROJECT_CONFIG = Path("conf") / "config.yaml"
PYPROJECT = Path("pyproject.toml")


@dataclass
class UseResult:
    plan: DataPlan
    data: str
    schema: str
    removed: list[str] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def data_path(plan: DataPlan) -> str:
    """Where a dataset lives in a project: data/raw/<its file name>."""
    return f"data/raw/{plan.source.name}"


def schema_file(raw: str) -> str:
    return f"data/schemas/{Path(raw).name.split('.')[0]}.yaml"


def install_dataset(project: Path, plan: DataPlan, frame: pd.DataFrame) -> str:
    """Copy the dataset into data/raw/ (its bytes unchanged), write conf/data/default.yaml
    from the plan and the data's schema; returns the data's project-relative path."""
    from mlopsctl.core.data.schema import infer_schema, render_schema

    raw = data_path(plan)
    target = project / raw
    target.parent.mkdir(parents=True, exist_ok=True)
    if plan.source.resolve() != target.resolve():
        shutil.copyfile(plan.source, target)
    schema = schema_file(raw)
    write_atomic(project / DATA_CONFIG, render_data_config(plan, raw, schema))
    inferred = infer_schema(frame, raw, Path(schema).stem, schema_hints(plan))
    write_atomic(project / schema, render_schema(inferred))
    return raw


def use_data(root: Path, source: Path, target: str, task: str = "auto") -> UseResult:
    """Make `source` the project's dataset; see the module docstring."""
    import yaml

    from mlopsctl.core.data.versioning import add_data

    old = yaml.safe_load((root / DATA_CONFIG).read_text(encoding="utf-8")) or {}
    plan, frame = infer_plan(source, target, task)
    old_task = str(old.get("task") or "binary")
    if (old_task == "regression") != (plan.task == "regression"):
        raise BadInput(
            f"this project predicts by {old_task}; {source} asks for {plan.task}",
            "start a project for it: mlopsctl init PATH --data FILE --target COLUMN "
            "(the pipeline's plots and models differ)",
        )
    raw = data_path(plan)
    old_raw, old_schema = str(old.get("raw") or ""), str(old.get("schema") or "")
    occupied = root / raw
    if occupied.exists() and raw != old_raw and source.resolve() != occupied.resolve():
        raise BadInput(
            f"{raw} already exists in the project",
            "rename the new file, or remove the old one first",
        )
    removed: list[str] = []
    if old_raw and old_raw != raw:
        removed += _forget_dataset(root, old_raw)
    if old_schema and old_schema != schema_file(raw) and (root / old_schema).exists():
        vcs.git(root, "rm", "--quiet", "--force", "--", old_schema)
        removed.append(old_schema)
    install_dataset(root, plan, frame)
    _set_metric(root / PROJECT_CONFIG, plan)
    _set_gates(root / PYPROJECT, plan)
    config.write_params(root, config.compose_params(root))
    added = add_data(root, [root / raw])
    staged = [*added.staged, schema_file(raw), str(DATA_CONFIG), str(PROJECT_CONFIG), "params.yaml"]
    if (root / PYPROJECT).exists():
        staged.append(str(PYPROJECT))
    vcs.stage(root, staged)
    return UseResult(plan=plan, data=raw, schema=schema_file(raw), removed=removed, staged=staged)


def _forget_dataset(root: Path, raw: str) -> list[str]:
    """Stop tracking the old dataset: its .dvc pointer removed from git and the workspace,
    the data file and its .gitignore entry gone (the DVC cache and remote keep it)."""
    pointer = f"{raw}.dvc"
    gone = []
    if (root / pointer).exists():
        from mlopsctl.core.dvcrepo import open_repo

        with open_repo(root) as repo:
            repo.remove(str(root / pointer))
        if vcs.tracked_files(root, [pointer]):
            vcs.git(root, "rm", "--quiet", "--cached", "--force", "--", pointer)
        gitignore = Path(raw).parent / ".gitignore"
        if (root / gitignore).exists():
            vcs.stage(root, [str(gitignore)])
        gone.append(pointer)
    (root / raw).unlink(missing_ok=True)
    return gone


def _set_metric(path: Path, plan: DataPlan) -> None:
    """conf/config.yaml's `metrics.primary` and `metrics.direction`, comments kept."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(  primary:).*$", rf"\1 {plan.primary_metric}", text, count=1)
    if re.search(r"(?m)^  direction:", text):
        text = re.sub(r"(?m)^(  direction:).*$", rf"\1 {plan.direction}", text, count=1)
    else:
        text = re.sub(
            r"(?m)^(  primary:.*)$",
            rf"\1\n  # maximize or minimize: which way is better\n  direction: {plan.direction}",
            text,
            count=1,
        )
    write_atomic(path, text)


def _set_gates(path: Path, plan: DataPlan) -> None:
    """[tool.mlopsctl.promotion] `thresholds` and `champion` started from this data."""
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    head, sep, section = text.partition("[tool.mlopsctl.promotion]")
    if not sep:
        section = "\n"
        head, sep = text.rstrip("\n") + "\n\n", "[tool.mlopsctl.promotion]"
    body, next_table, rest = _split_table(section)
    body = re.sub(r"(?m)^#[^\n]*\n(?=thresholds\s*=)", "", body)
    body = re.sub(r"(?m)^(thresholds|champion)\s*=.*\n?", "", body)
    body = body.rstrip("\n") + (
        f"\n# {plan.gate_note}\nthresholds = [{_toml(plan.threshold_rule)}]\n"
        f"champion = [{_toml(plan.champion_rule)}]\n"
    )
    write_atomic(path, head + sep + body + next_table + rest)


def _split_table(section: str) -> tuple[str, str, str]:
    match = re.search(r"(?m)^\[", section)
    if match is None:
        return section, "", ""
    return section[: match.start()], "\n", section[match.start() :]


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
