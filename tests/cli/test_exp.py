"""Experiments: a sweep queued and run by DVC, then listed, compared, applied, cleaned up."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.conftest import git, mlopsctl


def as_json(project: Path, *args: str) -> object:
    proc = mlopsctl(*args, "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_sweep_list_compare_apply_gc(trained_project: Path) -> None:
    p = trained_project
    before = (p / "params.yaml").read_bytes()
    result = as_json(
        p,
        "train",
        "--queue",
        "--jobs",
        "2",
        "--name",
        "grid",
        "model=logistic_regression,random_forest",  # the product of axes: test_config.py
        "data.test_size=0.25",
    )
    assert isinstance(result, dict)
    names = sorted(e["name"] for e in result["experiments"])
    assert names == ["grid-1", "grid-2"] and result["failed"] == []
    combos = {e["params"]["model._target_"] for e in result["experiments"]}
    assert len(combos) == 2
    assert {e["params"]["data.test_size"] for e in result["experiments"]} == {0.25}
    # ranked best first by the project's primary metric
    scores = [e["metrics"]["f1"] for e in result["experiments"]]
    assert scores == sorted(scores, reverse=True)
    # queueing did not leave the sweep's params in the workspace
    assert (p / "params.yaml").read_bytes() == before

    listed = as_json(p, "exp", "list")
    assert isinstance(listed, list)
    assert {"grid-1", "grid-2"} <= {e["name"] for e in listed}
    proc = mlopsctl("exp", "list", cwd=p, env=dict(os.environ, COLUMNS="200"))
    assert proc.returncode == 0 and "grid-2" in proc.stdout and "f1" in proc.stdout

    by_name = {e["name"]: e for e in result["experiments"]}
    lr, rf = by_name["grid-1"], by_name["grid-2"]  # logistic regression vs forest
    compared = as_json(p, "exp", "compare", "grid-1", "grid-2")
    assert isinstance(compared, dict)
    changed = {(r["section"], r["key"]) for r in compared["rows"] if r["changed"]}
    assert ("param", "model._target_") in changed
    assert ("metric", "f1") in changed or lr["metrics"]["f1"] == rf["metrics"]["f1"]
    wide = dict(os.environ, COLUMNS="200")
    proc = mlopsctl("exp", "compare", "grid-1", "grid-2", cwd=p, env=wide)
    assert "RandomForestClassifier" in proc.stdout and "model._target_" in proc.stdout

    proc = mlopsctl("exp", "apply", "grid-2", cwd=p)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load((p / "params.yaml").read_text())["data"]["test_size"] == 0.25
    assert json.loads((p / "metrics.json").read_text())["f1"] == rf["metrics"]["f1"]
    # its params are written into conf/: the next compose keeps them, the hook agrees
    assert "conf/config.yaml: defaults model: random_forest" in proc.stdout
    assert "test_size: 0.25" in proc.stdout
    assert "model: random_forest" in (p / "conf" / "config.yaml").read_text()
    assert mlopsctl("check", "config-composes", cwd=p).returncode == 0
    kept = as_json(p, "train")
    assert isinstance(kept, dict) and kept["up_to_date"] is True
    assert yaml.safe_load((p / "params.yaml").read_text())["data"]["test_size"] == 0.25
    git("checkout", "--", ".", cwd=p)

    plan = as_json(p, "exp", "gc", "--keep", "1")
    assert isinstance(plan, dict) and plan["removed"] is False
    assert len(plan["keep"]) == 1 and len(plan["remove"]) == 1
    assert len([e for e in as_json(p, "exp", "list") if e["kind"] == "experiment"]) == 2
    proc = mlopsctl("exp", "gc", "--keep", "1", "--yes", cwd=p)
    assert proc.returncode == 0, proc.stderr
    left = [e["name"] for e in as_json(p, "exp", "list") if e["kind"] == "experiment"]
    assert left == plan["keep"]


def test_a_bad_combination_queues_nothing(trained_project: Path) -> None:
    p = trained_project
    proc = mlopsctl("train", "--queue", "model=logistic_regression,nope", cwd=p)
    assert proc.returncode == 2, proc.stderr
    assert "model/nope" in proc.stderr
    listed = as_json(p, "exp", "list")
    assert isinstance(listed, list)
    assert [e for e in listed if e["kind"] == "experiment"] == []


def test_compare_against_a_git_revision_and_unknown_names(trained_project: Path) -> None:
    p = trained_project
    compared = as_json(p, "exp", "compare", "HEAD", "workspace")
    assert isinstance(compared, dict)
    assert not [r for r in compared["rows"] if r["changed"]]
    proc = mlopsctl("exp", "compare", "HEAD", "nope-nope", cwd=p)
    assert proc.returncode == 2 and "nope-nope" in proc.stderr
    proc = mlopsctl("exp", "apply", "nope-nope", cwd=p)
    assert proc.returncode == 2 and "nope-nope" in proc.stderr
