"""`mlopsctl init --data FILE --target COL` and `mlopsctl data use` as a user meets them: the
decisions printed and written, the bad inputs refused with nothing made, and (slow) a
project from their own data that trains and promotes with no hand edits."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import dvc, git, mlopsctl, run
from tests.core.data.datasets import customers, write_classification, write_regression


def assert_refused(proc, where: Path, message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert lines[1].startswith("hint: "), proc.stderr
    assert sorted(p.name for p in where.iterdir()) == ["bad.csv"], "init left something behind"


def write_bad(path: Path, case: str) -> str:
    """A dataset with one thing wrong; returns the target to ask for."""
    frame = customers(60).drop(columns=["revenue"])
    if case == "duplicate columns":
        path.write_text("a,b,a,segment\n" + "".join(f"{i},{i},{i},{i % 2}\n" for i in range(30)))
        return "segment"
    if case == "not utf-8":
        frame.assign(plan="M\u00fcnchen").to_csv(path, index=False, encoding="latin-1")
        return "segment"
    changes = {
        "missing target": lambda f: f,
        "one class": lambda f: f.assign(segment="low"),
        "too few rows": lambda f: f.head(12),
        "only empty and id columns": lambda f: f[["customer_id", "notes", "segment"]],
        "mixed date formats": lambda f: f.assign(signup=["2021-03-04", "04/03/2021"] * 30),
    }
    changes[case](frame).to_csv(path, index=False)
    return "nope" if case == "missing target" else "segment"


BAD = {
    "missing target": "has no column 'nope'",
    "one class": "has one value",
    "too few rows": "too few",
    "only empty and id columns": "no column to learn from",
    "mixed date formats": "more than one format",
    "duplicate columns": "duplicate column names",
    "not utf-8": "is not UTF-8",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_data_is_refused_before_anything_is_made(tmp_path: Path, case: str) -> None:
    target = write_bad(tmp_path / "bad.csv", case)
    proc = mlopsctl(
        "init", "proj", "--data", "bad.csv", "--target", target, "--no-input", cwd=tmp_path
    )
    assert_refused(proc, tmp_path, BAD[case])


def test_data_without_target_is_bad_usage(tmp_path: Path) -> None:
    write_classification(tmp_path / "bad.csv")
    proc = mlopsctl("init", "proj", "--data", "bad.csv", "--no-input", cwd=tmp_path)
    assert_refused(proc, tmp_path, "--data and --target go together")


@pytest.fixture(scope="module")
def own_data_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    where = tmp_path_factory.mktemp("own-data")
    write_classification(where / "customers.csv")
    proc = mlopsctl(
        "init", "shop", "--data", "customers.csv", "--target", "segment",
        "--no-input", "--no-hooks", cwd=where, check=True,
    )  # fmt: skip
    return where / "shop", proc.stdout


def test_init_prints_and_writes_every_decision(own_data_project: tuple[Path, str]) -> None:
    project, out = own_data_project
    assert "task: multiclass classification" in out
    assert "6 of 300 rows have no 'segment': left out of training" in out
    for line in [
        "- customer_id: left out: text unique in every row (an ID)",
        "- country: left out: one value ('DE') in every row",
        "- notes: left out: every value is missing",
        "+ signup: dates in format %Y-%m-%d",
        "+ plan: categorical (3 values)",
        "+ active: boolean",
    ]:
        assert line in out, out
    cfg = yaml.safe_load((project / "conf/data/default.yaml").read_text())
    assert cfg["raw"] == "data/raw/customers.csv" and cfg["target"] == "segment"
    assert cfg["features"]["datetime"] == ["signup"]
    # the demo is gone: its data, schema and source
    assert not (project / "data/raw/breast_cancer.csv.dvc").exists()
    assert not (project / "data/schemas/breast_cancer.yaml").exists()
    assert (project / "data/raw/customers.csv.dvc").exists()
    assert git("status", "--porcelain", cwd=project).stdout == ""
    # the first gate comes from this data's dummy baseline, with a comment saying so
    pyproject = (project / "pyproject.toml").read_text()
    gates = tomllib.loads(pyproject)["tool"]["mlopsctl"]["promotion"]
    assert gates["thresholds"] != ["f1 >= 0.9"] and gates["thresholds"][0].startswith("f1 >= ")
    assert "DummyClassifier" in pyproject
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["metrics"] == {"primary": "f1", "direction": "maximize"}
    schema = yaml.safe_load((project / "data/schemas/customers.yaml").read_text())
    assert schema["columns"]["segment"]["isin"] == ["high", "low", "mid"]
    # the data is in the DVC remote already
    assert json.loads(dvc("status", "--cloud", "--json", cwd=project).stdout) == {}


@pytest.mark.slow
def test_own_data_trains_and_promotes_with_no_hand_edits(
    own_data_project: tuple[Path, str], tmp_path: Path
) -> None:
    import shutil

    project = tmp_path / "shop"
    shutil.copytree(own_data_project[0], project, symlinks=True)
    mlopsctl("train", cwd=project, check=True)
    metrics = json.loads((project / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    model = json.loads((project / "models/model.json").read_text())
    assert model["boolean"] == ["active"]  # the service takes true/false for it
    dvc("push", "--quiet", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "--quiet", "-m", "first model", cwd=project)
    promoted = mlopsctl("promote", "--to", "staging", cwd=project)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "shop#staging#1" in git("tag", cwd=project).stdout.split()
    # a multiclass classifier without predict_proba: no roc_auc, the rest is scored
    mlopsctl("train", "model=svc", cwd=project, check=True)
    assert set(json.loads((project / "metrics.json").read_text())) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
    }


@pytest.mark.slow
def test_a_regression_project_trains_tests_and_promotes(tmp_path: Path) -> None:
    # as Excel saves it where the decimal mark is a comma: every stage reads it the same way
    write_regression(tmp_path / "revenue.csv", sep=";", decimal=",")
    made = mlopsctl(
        "init", "rev", "--data", "revenue.csv", "--target", "revenue",
        "--no-input", "--no-hooks", cwd=tmp_path, check=True,
    )  # fmt: skip
    assert "task: regression" in made.stdout
    assert "read as: semicolon-separated, decimal comma" in made.stdout
    project = tmp_path / "rev"
    assert sorted(p.name for p in (project / "conf/model").iterdir()) == [
        "hist_gradient_boosting.yaml",
        "random_forest.yaml",
        "ridge.yaml",
    ]
    mlopsctl("train", cwd=project, check=True)
    metrics = json.loads((project / "metrics.json").read_text())
    assert {"rmse", "mae", "r2", "mape"} <= set(metrics)
    assert metrics["r2"] > 0.5
    for plot in ("predictions.csv", "residuals.csv", "images/residuals.png"):
        assert (project / "plots" / plot).is_file()
    tests = mlopsctl_pytest(project)
    assert tests.returncode == 0, tests.stdout
    # the project's own lint (its pre-commit hooks run these) is clean for a regression project
    for lint in (["check", "."], ["format", "--check", "."]):
        linted = run([sys.executable, "-m", "ruff", *lint], project)
        assert linted.returncode == 0, linted.stdout
    dvc("push", "--quiet", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "--quiet", "-m", "first model", cwd=project)
    promoted = mlopsctl("promote", "--to", "staging", cwd=project)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert "rmse <= " in promoted.stdout


def mlopsctl_pytest(project: Path):
    return run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)


def test_data_use_switches_the_dataset_in_one_staged_step(project: Path) -> None:
    write_classification(project / "customers.csv", rows=120, missing_target=0)
    used = mlopsctl("data", "use", "customers.csv", "--target", "segment", cwd=project)
    assert used.returncode == 0, used.stderr
    assert "no longer tracked: data/raw/breast_cancer.csv.dvc" in used.stdout
    status = dict(
        (line[3:], line[:2])
        for line in git("status", "--porcelain", cwd=project).stdout.splitlines()
    )
    assert status["data/raw/breast_cancer.csv.dvc"] == "D "
    assert status["data/schemas/breast_cancer.yaml"] == "D "
    for added in ("data/raw/customers.csv.dvc", "data/schemas/customers.yaml"):
        assert status[added] == "A ", status
    for changed in ("conf/data/default.yaml", "params.yaml", "pyproject.toml"):
        assert status[changed] == "M ", status
    assert not (project / "data/raw/breast_cancer.csv").exists()
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["data"]["raw"] == "data/raw/customers.csv"
    assert params["data"]["task"] == "multiclass"
    # the git history keeps the old pointer
    assert git("show", "HEAD:data/raw/breast_cancer.csv.dvc", cwd=project).returncode == 0


def test_data_use_refuses_a_regression_target_in_a_classification_project(project: Path) -> None:
    write_regression(project / "revenue.csv", rows=60)
    before = git("status", "--porcelain", cwd=project).stdout
    used = mlopsctl("data", "use", "revenue.csv", "--target", "revenue", cwd=project)
    assert used.returncode == 2 and "start a project for it" in used.stderr
    assert git("status", "--porcelain", cwd=project).stdout == before
    assert (project / "data/raw/breast_cancer.csv").exists()


def test_demo_target_schema_allows_its_classes_only(template_project: Path) -> None:
    schema = yaml.safe_load((template_project / "data/schemas/breast_cancer.yaml").read_text())
    assert schema["columns"]["target"]["isin"] == [0, 1]
