"""Composing conf/ into params.yaml, on a real project's Hydra config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlopsctl.core.config import compose_params, expand_sweep, write_params
from mlopsctl.errors import BadInput


def test_overrides_change_the_composed_params(template_project: Path) -> None:
    params = compose_params(
        template_project, ["model=random_forest", "model.n_estimators=7", "data.test_size=0.3"]
    )
    assert params["model"]["_target_"] == "sklearn.ensemble.RandomForestClassifier"
    assert params["model"]["n_estimators"] == 7
    assert params["model"]["random_state"] == params["seed"]  # interpolation resolved
    assert params["data"]["test_size"] == 0.3


def test_unknown_option_lists_the_groups_choices(template_project: Path) -> None:
    with pytest.raises(BadInput) as info:
        compose_params(template_project, ["model=nope"])
    assert "nope" in info.value.message
    assert "logistic_regression" in (info.value.hint or "")
    assert "random_forest" in (info.value.hint or "")


def test_an_override_hydra_cannot_read_is_named(template_project: Path) -> None:
    with pytest.raises(BadInput) as caught:
        compose_params(template_project, ["model=random_forest", "model.max_depth=$(x"])
    assert caught.value.message.startswith("cannot read the override 'model.max_depth=$(x': ")
    assert "KEY='a b'" in caught.value.hint


def test_write_params_only_when_changed(project: Path) -> None:
    path = project / "params.yaml"
    before = path.stat().st_mtime_ns
    assert write_params(project, compose_params(project)) is False
    assert path.stat().st_mtime_ns == before
    assert write_params(project, compose_params(project, ["seed=7"])) is True
    assert yaml.safe_load(path.read_text())["seed"] == 7
    assert [p.name for p in project.glob(".params.yaml.*")] == []


def test_missing_conf_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput) as info:
        compose_params(tmp_path)
    assert "mlopsctl init" in (info.value.hint or "")


def test_sweep_syntax_expands_to_the_cartesian_product() -> None:
    assert expand_sweep(["model=a,b", "seed=1,2,3", "data.test_size=0.25"]) == [
        [f"model={m}", f"seed={s}", "data.test_size=0.25"] for m in "ab" for s in (1, 2, 3)
    ]
    assert expand_sweep(["model.C=range(1,4)"]) == [["model.C=1"], ["model.C=2"], ["model.C=3"]]
    assert expand_sweep([]) == [[]]
