"""Promotion settings (`[tool.mlopsctl.promotion]` in pyproject.toml) and the quality gates
a version must pass before it gets a stage."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from mlopsctl.core.pipeline.metrics import format_number
from mlopsctl.core.project import MAXIMIZE, MINIMIZE, Project
from mlopsctl.core.settings import SETTINGS_FILE, tool_table
from mlopsctl.errors import BadInput

SETTINGS_TABLE = "tool.mlopsctl.promotion"
DEFAULT_STAGES = ("staging", "production")
DEFAULT_THRESHOLD = 0.5
DEFAULT_TOLERANCE = 0.005
# a default threshold where a metric's scale says what no better than chance is: a model
# that predicts the mean has r2 0; predicting 0.5 everywhere has brier 0.25; predicting 0,
# mape 1. Other scores to maximize (f1, roc_auc, accuracy...) start at DEFAULT_THRESHOLD.
CHANCE_LEVELS = {"r2": 0.0, "brier": 0.25, "mape": 1.0}
VALIDATE_STAGE = "validate"
GATE_DIGITS = 6  # a gate shows enough digits to see why it failed

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}
_RULE_RE = re.compile(
    r"^\s*(?P<metric>[A-Za-z0-9_.\-/]+)\s*(?P<op>>=|<=|==|>|<)\s*"
    r"(?:(?P<champion>champion)\s*(?:(?P<sign>[+-])\s*(?P<delta>[0-9.eE+-]+))?|(?P<value>[0-9.eE+-]+))"
    r"\s*$"
)


@dataclass(frozen=True)
class Rule:
    """`f1 >= 0.9`, or against the champion: `roc_auc >= champion - 0.005`."""

    metric: str
    op: str
    value: float  # the threshold, or the offset added to the champion's value
    champion: bool = False

    @property
    def text(self) -> str:
        if not self.champion:
            return f"{self.metric} {self.op} {self.value:g}"
        offset = f" {'-' if self.value < 0 else '+'} {abs(self.value):g}" if self.value else ""
        return f"{self.metric} {self.op} champion{offset}"


def parse_rule(text: str, champion: bool) -> Rule:
    match = _RULE_RE.match(text)
    if not match or bool(match["champion"]) != champion:
        example = "roc_auc >= champion - 0.005" if champion else "f1 >= 0.9"
        raise BadInput(
            f"cannot read the promotion rule {text!r} in {SETTINGS_FILE}",
            f"write rules like {example!r} under [{SETTINGS_TABLE}]",
        )
    if champion:
        delta = float(match["delta"] or 0.0)
        value = -delta if match["sign"] == "-" else delta
    else:
        value = float(match["value"])
    return Rule(match["metric"], match["op"], value, champion)


@dataclass(frozen=True)
class PromotionSettings:
    stages: tuple[str, ...] = DEFAULT_STAGES
    # a stage takes only versions that were assigned the stage before it in `stages`
    require_previous_stage: bool = True
    thresholds: tuple[Rule, ...] = ()
    champion: tuple[Rule, ...] = ()
    source: str = "defaults"

    def previous_stage(self, stage: str) -> str | None:
        index = self.stages.index(stage)
        return self.stages[index - 1] if self.require_previous_stage and index > 0 else None

    def check_stage(self, stage: str) -> str:
        if stage not in self.stages:
            raise BadInput(
                f"unknown stage {stage!r}",
                f"stages of this project: {', '.join(self.stages)} "
                f"(set `stages` under [{SETTINGS_TABLE}] in {SETTINGS_FILE})",
            )
        return stage


def default_rules(metric: str, direction: str) -> tuple[list[str], list[str]]:
    """(thresholds, champion rules) when the project sets none, in the metric's direction:
    at least chance level for a score to maximize, at most it for one to minimize (no
    threshold for errors with no scale of their own: rmse, mae); and no worse than the
    champion by more than the tolerance (lower is better for rmse)."""
    name = metric.rsplit(":", 1)[-1].rsplit(".", 1)[-1]
    level = CHANCE_LEVELS.get(name, DEFAULT_THRESHOLD if direction == MAXIMIZE else None)
    if direction == MINIMIZE:
        thresholds = [f"{metric} <= {level:g}"] if level is not None else []
        return thresholds, [f"{metric} <= champion + {DEFAULT_TOLERANCE}"]
    thresholds = [f"{metric} >= {level:g}"] if level is not None else []
    return thresholds, [f"{metric} >= champion - {DEFAULT_TOLERANCE}"]


def load_settings(root: Path, primary_metric: str, direction: str = MAXIMIZE) -> PromotionSettings:
    """The project's promotion settings; defaults gate on the primary metric, in its
    direction (`maximize` or `minimize`)."""
    path = root / SETTINGS_FILE
    table = tool_table(root, "promotion")
    defaults_thresholds, defaults_champion = default_rules(primary_metric, direction)
    stages = table.get("stages", list(DEFAULT_STAGES))
    thresholds = table.get("thresholds", defaults_thresholds)
    champion = table.get("champion", defaults_champion)
    if not (
        _strings(stages)
        and stages
        and _strings(thresholds)
        and _strings(champion)
        and isinstance(table.get("require_previous_stage", True), bool)
    ):
        raise BadInput(
            f"[{SETTINGS_TABLE}] in {path} has a value of the wrong type",
            "stages, thresholds and champion are lists of strings; "
            "require_previous_stage is true or false (see docs/registry.md)",
        )
    return PromotionSettings(
        stages=tuple(stages),
        require_previous_stage=table.get("require_previous_stage", True),
        thresholds=tuple(parse_rule(t, champion=False) for t in thresholds),
        champion=tuple(parse_rule(t, champion=True) for t in champion),
        source=f"{SETTINGS_FILE} [{SETTINGS_TABLE}]" if table else "defaults",
    )


def project_settings(project: Project) -> PromotionSettings:
    """load_settings for the project's primary metric in its direction."""
    return load_settings(project.root, project.primary_metric(), project.metric_direction())


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True)
class GateResult:
    gate: str
    expected: str
    actual: str
    passed: bool


@dataclass
class Candidate:
    """What the gates look at: the version's commit and what is known about it."""

    commit: str
    at_head: bool  # the workspace is this commit, so workspace checks apply
    metrics: dict[str, Any]
    pipeline_status: dict[str, Any] | None = None  # `dvc status` of the workspace
    not_pushed: list[str] = field(default_factory=list)
    has_remote: bool = True
    recorded_gates: list[dict[str, Any]] | None = None  # from the version's registration


def git_gates(changed: list[str], branch: str | None, head: str) -> list[GateResult]:
    shown = ", ".join(changed[:3]) + (", ..." if len(changed) > 3 else "")
    return [
        GateResult(
            "git tree clean",
            "no uncommitted changes",
            "clean"
            if not changed
            else f"{len(changed)} changed: {shown}; commit them (the trained model's "
            "dvc.lock and metrics too), then promote",
            not changed,
        ),
        GateResult(
            "on a branch",
            "HEAD on a branch",
            branch if branch else f"detached HEAD at {head[:8]}",
            branch is not None,
        ),
    ]


def pipeline_gates(candidate: Candidate, stages: list[str]) -> list[GateResult]:
    """dvc.lock matches code, params and data; the validation stage passed; all pushed."""
    gates = []
    if candidate.at_head and candidate.pipeline_status is not None:
        status = candidate.pipeline_status
        changed = "; ".join(f"{stage}: {_describe(entry)}" for stage, entry in status.items())
        gates.append(
            GateResult(
                "pipeline up to date",
                "dvc.lock matches code, params, data",
                "up to date" if not status else changed,
                not status,
            )
        )
        if VALIDATE_STAGE in stages:
            ok = VALIDATE_STAGE not in status
            actual = "up to date" if ok else _describe(status[VALIDATE_STAGE])
        else:
            ok, actual = True, "no validate stage"
        gates.append(GateResult("data validation", f"stage {VALIDATE_STAGE!r} passed", actual, ok))
    else:
        recorded = {g.get("gate"): g for g in candidate.recorded_gates or []}
        for name, expected in (
            ("pipeline up to date", "dvc.lock matches code, params, data"),
            ("data validation", f"stage {VALIDATE_STAGE!r} passed"),
        ):
            gate = recorded.get(name)
            ok = bool(gate and gate.get("passed"))
            actual = "passed at registration" if ok else "not recorded as passed at registration"
            gates.append(GateResult(name, expected, actual, ok))
    if not candidate.has_remote:
        gates.append(
            GateResult(
                "pushed to DVC remote",
                "data and model in the remote",
                "no DVC remote configured",
                False,
            )
        )
    else:
        missing = candidate.not_pushed
        shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
        gates.append(
            GateResult(
                "pushed to DVC remote",
                "data and model in the remote",
                "in sync"
                if not missing
                else f"{len(missing)} not in the remote: {shown}; run `mlopsctl data push`",
                not missing,
            )
        )
    return gates


def _describe(entry: Any) -> str:
    parts = []
    for item in entry if isinstance(entry, list) else [entry]:
        if isinstance(item, dict):
            for kind, paths in item.items():
                names = ", ".join(paths) if isinstance(paths, dict) else str(paths)
                parts.append(f"{kind} {names}")
        else:
            parts.append(str(item))
    return ", ".join(parts)


def metric_gates(
    settings: PromotionSettings,
    metrics: dict[str, Any],
    stage: str,
    champion: tuple[str, dict[str, Any]] | None,
) -> list[GateResult]:
    """Thresholds, then challenger against the version now holding `stage` (the champion)."""
    gates = []
    for rule in settings.thresholds:
        value = metrics.get(rule.metric)
        ok = _number(value) and OPERATORS[rule.op](float(value), rule.value)
        gates.append(GateResult(rule.metric, f"{rule.op} {rule.value:g}", _show(value), bool(ok)))
    for rule in settings.champion:
        name = f"{rule.metric} vs {stage}"
        value = metrics.get(rule.metric)
        if champion is None:
            gates.append(GateResult(name, rule.text, f"no version in {stage} yet", True))
            continue
        version, champion_metrics = champion
        reference = champion_metrics.get(rule.metric)
        if not _number(reference):
            gates.append(
                GateResult(name, rule.text, f"{version} has no {rule.metric} recorded", True)
            )
            continue
        target = float(reference) + rule.value
        ok = _number(value) and OPERATORS[rule.op](float(value), target)
        expected = f"{rule.op} {_show(target)} ({version}: {_show(float(reference))})"
        gates.append(GateResult(name, expected, _show(value), bool(ok)))
    return gates


def previous_stage_gate(
    settings: PromotionSettings, stage: str, version: str | None, was_there: bool
) -> list[GateResult]:
    previous = settings.previous_stage(stage)
    if previous is None:
        return []
    shown = version or "the new version"
    return [
        GateResult(
            f"passed {previous}",
            f"was assigned {previous} before {stage}",
            f"{shown} was in {previous}" if was_there else f"{shown} was never in {previous}",
            was_there,
        )
    ]


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is None:
        return "missing"
    return format_number(float(value), GATE_DIGITS) if _number(value) else str(value)
