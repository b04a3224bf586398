"""core.pipeline.metrics: the one number format, and ranking in a metric's direction."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.core.pipeline.metrics import best_first, better, format_change, format_number
from mlopsctl.core.project import Project


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.973684, "0.9737"),  # an f1: what train, exp and report all print
        (12345.6, "12346"),  # an rmse in dollars: every integer digit, no exponent
        (0.00012, "0.00012"),  # a p-value: no exponent, no lost digits
        (3.0, "3"),
        (0.95, "0.95"),
        (-0.5, "-0.5"),
        (123.456789, "123.5"),
        (1e-9, "1e-09"),
        (2e16, "2e+16"),
        (0.0, "0"),
        (7, "7"),
        (None, "-"),
        ("n/a", "n/a"),
        (float("nan"), "nan"),
    ],
)
def test_one_number_format(value: object, shown: str) -> None:
    assert format_number(value) == shown


def test_changes_are_signed_and_more_digits_on_request() -> None:
    assert format_change(0.1 + 0.2 - 0.3 + 0.05) == "+0.05"
    assert format_change(-12.25) == "-12.25"
    assert format_change(0.0) == "0" and format_change(None) == "-"
    assert format_number(0.9736842, digits=6) == "0.973684"


def test_better_and_best_first_follow_the_direction() -> None:
    assert better(1.0, 2.0, "minimize") is True and better(1.0, 2.0, "maximize") is False
    assert better(1.0, 1.0, "minimize") is None and better(None, 1.0, "maximize") is None
    runs = [("a", 3.0), ("b", None), ("c", 1.0), ("d", 2.0), ("e", float("nan"))]
    lowest = best_first(runs, lambda r: r[1], "minimize")
    assert [r[0] for r in lowest] == ["c", "d", "a", "b", "e"]  # no number: last
    highest = best_first(runs, lambda r: r[1], "maximize")
    assert [r[0] for r in highest] == ["a", "d", "c", "b", "e"]


def test_directions_from_params_and_known_names(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("metrics:\n  primary: loss\n  direction: minimize\n")
    project = Project(tmp_path)
    directions = project.metric_directions(["metrics.json:rmse", "test.r2", "custom"])
    assert directions == {
        "loss": "minimize",  # declared for the primary metric
        "metrics.json:rmse": "minimize",  # known name, after DVC's file prefix
        "test.r2": "maximize",
        "custom": "maximize",  # unknown and undeclared: the default
    }
    assert project.metric_direction() == "minimize"
    assert Project(tmp_path / "nowhere").metric_direction("mae") == "minimize"
