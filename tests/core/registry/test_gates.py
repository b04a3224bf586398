"""core.gates: promotion rules and settings read from pyproject.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.core.registry.gates import load_settings, metric_gates, parse_rule
from mlopsctl.errors import BadInput


def test_rules_read_like_they_are_written() -> None:
    assert parse_rule("f1 >= 0.9", champion=False).text == "f1 >= 0.9"
    rule = parse_rule("roc_auc>=champion-0.005", champion=True)
    assert (rule.metric, rule.op, rule.value) == ("roc_auc", ">=", -0.005)
    assert rule.text == "roc_auc >= champion - 0.005"
    for bad, champion in [("f1 => 0.9", False), ("f1 >= champion", False), ("f1 >= 1", True)]:
        with pytest.raises(BadInput):
            parse_rule(bad, champion=champion)


def test_defaults_gate_the_primary_metric(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, "roc_auc")
    assert settings.stages == ("staging", "production")
    assert settings.previous_stage("production") == "staging"
    assert [r.text for r in settings.thresholds] == ["roc_auc >= 0.5"]
    assert [r.text for r in settings.champion] == ["roc_auc >= champion - 0.005"]


def test_settings_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.mlopsctl.promotion]\n"
        'stages = ["dev", "qa", "prod"]\n'
        "require_previous_stage = false\n"
        'thresholds = ["f1 >= 0.8", "recall > 0.7"]\n'
        "champion = []\n"
    )
    settings = load_settings(tmp_path, "f1")
    assert settings.stages == ("dev", "qa", "prod")
    assert settings.previous_stage("prod") is None
    gates = metric_gates(settings, {"f1": 0.85, "recall": 0.7}, "prod", ("v1", {"f1": 0.99}))
    assert [(g.gate, g.passed) for g in gates] == [("f1", True), ("recall", False)]
    with pytest.raises(BadInput, match="unknown stage"):
        settings.check_stage("staging")


@pytest.mark.parametrize(
    "table",
    ['stages = "prod"', "require_previous_stage = 1", "thresholds = [0.9]", "stages = ["],
)
def test_bad_settings_are_bad_input(tmp_path: Path, table: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.mlopsctl.promotion]\n{table}\n")
    with pytest.raises(BadInput):
        load_settings(tmp_path, "f1")


def test_champion_gate_uses_the_holders_value() -> None:
    settings = load_settings(Path("/nonexistent"), "f1")
    gates = metric_gates(settings, {"f1": 0.95}, "production", ("v0.1.0", {"f1": 0.96}))
    champion = gates[-1]
    assert champion.gate == "f1 vs production" and not champion.passed
    assert "v0.1.0: 0.96" in champion.expected
    assert metric_gates(settings, {"f1": 0.95}, "production", None)[-1].passed


@pytest.mark.parametrize(
    ("metric", "direction", "thresholds", "champion"),
    [
        ("f1", "maximize", ["f1 >= 0.5"], ["f1 >= champion - 0.005"]),
        ("r2", "maximize", ["r2 >= 0"], ["r2 >= champion - 0.005"]),
        ("rmse", "minimize", [], ["rmse <= champion + 0.005"]),
        ("mape", "minimize", ["mape <= 1"], ["mape <= champion + 0.005"]),
        ("brier", "minimize", ["brier <= 0.25"], ["brier <= champion + 0.005"]),
    ],
)
def test_default_gates_follow_the_metrics_direction(
    tmp_path: Path, metric: str, direction: str, thresholds: list[str], champion: list[str]
) -> None:
    settings = load_settings(tmp_path, metric, direction)
    assert [r.text for r in settings.thresholds] == thresholds
    assert [r.text for r in settings.champion] == champion


def test_a_lower_rmse_beats_the_champion() -> None:
    settings = load_settings(Path("/nonexistent"), "rmse", "minimize")
    holder = ("v0.0.1", {"rmse": 12345.6})
    (lower,) = metric_gates(settings, {"rmse": 12000.0}, "production", holder)
    assert lower.passed and lower.expected == "<= 12345.6 (v0.0.1: 12345.6)"
    (higher,) = metric_gates(settings, {"rmse": 12400.0}, "production", holder)
    assert not higher.passed and higher.actual == "12400"
    # within the tolerance is not worse
    (tie,) = metric_gates(settings, {"rmse": 12345.604}, "production", holder)
    assert tie.passed
