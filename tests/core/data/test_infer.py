"""What `init --data` and `data use` infer from a dataset: the task, each column's fate, the
first gate, the schema's tightening, and the bad inputs they refuse."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlopsctl.core.data.infer import infer_plan
from mlopsctl.core.data.plan_files import render_data_config, schema_hints
from mlopsctl.core.data.schema import infer_schema, load_schema, validate_frame
from mlopsctl.errors import BadInput
from tests.core.data.datasets import customers, write_classification, write_regression


def kinds(plan) -> dict[str, str]:
    return {d.column: d.kind for d in plan.decisions}


def test_a_multiclass_target_and_every_kind_of_column(tmp_path: Path) -> None:
    plan, _ = infer_plan(write_classification(tmp_path / "c.csv"), "segment")
    assert plan.task == "multiclass"
    assert "3 distinct non-numeric values" in plan.task_reason
    assert plan.classes == ["high", "low", "mid"]
    assert plan.missing_target == 6 and plan.rows == 300
    assert kinds(plan) == {
        "segment": "target",
        "customer_id": "id",
        "row": "id",
        "age": "numeric",
        "plan": "categorical",
        "active": "boolean",
        "signup": "datetime",
        "country": "constant",
        "notes": "empty",
        "spend": "numeric",
    }
    assert plan.date_formats == {"signup": "%Y-%m-%d"}
    assert plan.primary_metric == "f1" and plan.direction == "maximize"
    # the gate is a little beyond the best dummy model on this data, not a fixed 0.9
    assert 0 < plan.baseline < plan.threshold < 1
    assert plan.threshold_rule == f"f1 >= {plan.threshold:g}"


def test_a_regression_target_gets_an_error_gate_below_the_mean_predictor(tmp_path: Path) -> None:
    plan, _ = infer_plan(write_regression(tmp_path / "r.csv"), "revenue")
    assert plan.task == "regression" and plan.classes == []
    assert plan.primary_metric == "rmse" and plan.direction == "minimize"
    assert plan.threshold < plan.baseline
    assert plan.threshold_rule.startswith("rmse <= ")
    assert plan.champion_rule.startswith("rmse <= champion + ")


@pytest.mark.parametrize(
    ("values", "task", "expected"),
    [
        ([0, 1] * 15, "auto", "binary"),
        ([1, 2, 3] * 10, "auto", "multiclass"),
        (list(range(30)), "auto", "regression"),
        ([0.5, 1.5, 2.25] * 10, "auto", "regression"),
        ([1, 2, 3] * 10, "regression", "regression"),
        (["yes", "no"] * 15, "auto", "binary"),
    ],
)
def test_the_task_follows_the_target(tmp_path: Path, values, task, expected) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame(
        {"x": range(len(values)), "x2": [v % 7 for v in range(len(values))], "y": values}
    ).to_csv(path, index=False)
    plan, _ = infer_plan(path, "y", task)
    assert plan.task == expected


def test_the_positive_class_is_yes_or_the_rarer_one(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    pd.DataFrame({"x": [i % 5 for i in range(40)], "y": ["stay"] * 30 + ["churn"] * 10}).to_csv(
        path, index=False
    )
    plan, _ = infer_plan(path, "y")
    assert plan.task == "binary" and plan.positive_class == "churn"


def test_the_data_config_says_every_decision_and_composes(tmp_path: Path) -> None:
    plan, _ = infer_plan(write_classification(tmp_path / "c.csv"), "segment")
    text = render_data_config(plan, "data/raw/c.csv", "data/schemas/c.yaml")
    cfg = yaml.safe_load(text)
    assert cfg["features"] == {
        "numeric": ["age", "spend"],
        "boolean": ["active"],
        "categorical": ["plan"],
        "datetime": ["signup"],
    }
    assert cfg["task"] == "multiclass" and cfg["stratify"] is True
    assert cfg["id_columns"] == ["customer_id", "row"]
    for column in ("customer_id", "country", "notes"):
        assert any(column in line and line.lstrip().startswith("#") for line in text.splitlines())
    assert "6 of 300 rows have no 'segment'" in text


def test_the_schema_allows_the_classes_only_ids_unique_dates_in_format(tmp_path: Path) -> None:
    path = write_classification(tmp_path / "c.csv")
    plan, frame = infer_plan(path, "segment")
    schema = infer_schema(frame, "c.csv", "c", schema_hints(plan))
    assert schema["columns"]["segment"]["isin"] == ["high", "low", "mid"]
    assert schema["columns"]["customer_id"]["unique"] is True
    assert schema["columns"]["signup"]["str_matches"] == r"\d{4}-\d{2}-\d{2}"
    loaded = load_schema_from(tmp_path, schema)
    assert validate_frame(frame.copy(), loaded) == []

    bad = frame.copy()
    bad.loc[0, "segment"] = "vip"  # a new class
    bad.loc[1, "customer_id"] = bad.loc[2, "customer_id"]  # an ID seen twice
    bad.loc[3, "signup"] = "03/04/2021"  # another date format
    failed = {(f.column, f.check.split("(")[0]) for f in validate_frame(bad, loaded)}
    assert ("segment", "isin") in failed
    assert ("customer_id", "field_uniqueness") in failed
    assert ("signup", "str_matches") in failed


@pytest.mark.parametrize(
    ("values", "fmt"),
    [
        (["2013-01-01T10:00:00Z", "2013-06-30T23:15:00Z"], "%Y-%m-%dT%H:%M:%S%z"),
        (["2013-01-01 10:00:00+01:00", "2013-06-30 23:15:00-0500"], "%Y-%m-%d %H:%M:%S%z"),
        (["2013-01-01T10:00:00.250", "2013-06-30T23:15:00.5"], "%Y-%m-%dT%H:%M:%S.%f"),
        (["2013-01-01T10:00", "2013-06-30T23:15"], "%Y-%m-%dT%H:%M"),
    ],
)
def test_iso_timestamps_with_zones_or_fractions_are_dates(
    tmp_path: Path, values: list[str], fmt: str
) -> None:
    """As R's, pandas' and JavaScript's ISO 8601 timestamps are written (nycflights13's
    `time_hour` is `2013-01-01T10:00:00Z`): dates, in their format, with a schema that
    takes them."""
    frame = customers(120)
    frame["seen"] = [values[i % 2] for i in range(len(frame))]
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    plan, frame = infer_plan(path, "segment")
    assert kinds(plan)["seen"] == "datetime" and plan.date_formats["seen"] == fmt
    schema = infer_schema(frame, "t.csv", "t", schema_hints(plan))
    assert validate_frame(frame.copy(), load_schema_from(tmp_path, schema)) == []


def test_a_binary_integer_target_rejects_a_new_class(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [0, 1] * 20})
    path = tmp_path / "b.csv"
    frame.to_csv(path, index=False)
    plan, frame = infer_plan(path, "y")
    loaded = load_schema_from(tmp_path, infer_schema(frame, "b.csv", "b", schema_hints(plan)))
    frame.loc[0, "y"] = 2
    assert [f.column for f in validate_frame(frame, loaded)] == ["y"]


def load_schema_from(tmp_path: Path, schema: dict) -> object:
    from mlopsctl.core.data.schema import render_schema

    out = tmp_path / "schema.yaml"
    out.write_text(render_schema(schema), encoding="utf-8")
    return load_schema(out)


BAD = {
    "missing target": (lambda f: f, "nope", "has no column 'nope'"),
    "one class": (lambda f: f.assign(segment="low"), "segment", "has one value"),
    "too few rows": (lambda f: f.head(12), "segment", "too few"),
    "a class of one row": (
        lambda f: f.assign(segment=["rare"] + ["low"] * (len(f) - 1)),
        "segment",
        "single row",
    ),
    "mixed date formats": (
        lambda f: f.assign(signup=["2021-03-04", "04/03/2021"] * (len(f) // 2)),
        "segment",
        "more than one format",
    ),
    "nothing to learn from": (
        lambda f: f[["customer_id", "country", "notes", "segment"]],
        "segment",
        "no column to learn from",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_refused_with_a_reason(tmp_path: Path, case: str) -> None:
    change, target, message = BAD[case]
    path = tmp_path / "bad.csv"
    change(customers(60).drop(columns=["revenue"])).to_csv(path, index=False)
    with pytest.raises(BadInput) as raised:
        infer_plan(path, target)
    assert message in raised.value.message
    assert raised.value.hint


def test_duplicate_column_names_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    dup = tmp_path / "dup.csv"
    dup.write_text("a,b,a,y\n" + "".join(f"{i},{i},{i},{i % 2}\n" for i in range(30)))
    with pytest.raises(BadInput, match="duplicate column names: a"):
        infer_plan(dup, "y")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        ("city,y\n" + "".join(f"M\u00fcnchen{i % 3},{i % 2}\n" for i in range(30))).encode(
            "latin-1"
        )
    )
    with pytest.raises(BadInput, match="not UTF-8"):
        infer_plan(latin, "y")
