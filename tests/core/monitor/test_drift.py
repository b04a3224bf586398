"""Drift on synthetic data with known shifts: exactly the shifted columns are flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlopsctl.core.data.profile import profile_frame
from mlopsctl.core.monitor.drift import DriftSettings, check_drift, compare, load_settings
from mlopsctl.errors import BadInput


def sample(rng: np.random.Generator, rows: int, shifted: bool) -> pd.DataFrame:
    mix = [0.2, 0.3, 0.5] if shifted else [0.5, 0.3, 0.2]
    return pd.DataFrame(
        {
            "mean_shift": rng.normal(1.0 if shifted else 0.0, 1.0, rows),
            "variance": rng.normal(5.0, 2.0 if shifted else 1.0, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=mix),
            "control": rng.normal(10.0, 3.0, rows),
            "level": rng.integers(0, 4, rows),
        }
    )


@pytest.fixture(scope="module")
def reference() -> dict:
    return profile_frame(sample(np.random.default_rng(1), 5000, shifted=False), "train.csv")


def test_exactly_the_shifted_columns_drift(reference: dict) -> None:
    current = sample(np.random.default_rng(2), 3000, shifted=True)
    result = compare(reference, current, DriftSettings())
    assert sorted(result.drifted_columns) == ["colour", "mean_shift", "variance"]
    kinds = {c.column: (c.kind, c.method) for c in result.columns}
    assert kinds["colour"] == ("categorical", "jensenshannon")
    assert kinds["level"] == ("categorical", "jensenshannon")  # an integer with few values
    assert kinds["control"] == ("numeric", "wasserstein")
    assert result.dataset_drift and result.share == pytest.approx(0.6)
    shift = next(c for c in result.columns if c.column == "mean_shift")
    assert shift.score == pytest.approx(1.0, abs=0.1)  # a shift of one std


def test_an_unshifted_sample_does_not_drift(reference: dict) -> None:
    current = sample(np.random.default_rng(3), 3000, shifted=False)
    for method in ("default", "ks", "chi2", "psi"):
        result = compare(reference, current, DriftSettings(method=method))
        assert result.drifted_columns == [], method
        assert not result.dataset_drift


@pytest.mark.parametrize("method", ["ks", "chi2", "psi"])
def test_other_methods_flag_the_shifts(reference: dict, method: str) -> None:
    current = sample(np.random.default_rng(4), 3000, shifted=True)
    result = compare(reference, current, DriftSettings(method=method))
    assert sorted(result.drifted_columns) == ["colour", "mean_shift", "variance"]
    if method in ("ks", "chi2"):
        assert all(c.threshold == pytest.approx(0.05 / 5) for c in result.columns)


def test_an_old_profile_without_percentiles_still_works(reference: dict) -> None:
    old = json.loads(json.dumps(reference))
    for stats in old["columns"].values():
        stats.pop("percentiles", None)
    current = sample(np.random.default_rng(2), 3000, shifted=True)
    assert sorted(compare(old, current, DriftSettings()).drifted_columns) == [
        "colour",
        "mean_shift",
        "variance",
    ]


def test_new_categories_nulls_and_type_mismatches_are_reported(reference: dict) -> None:
    current = sample(np.random.default_rng(5), 1000, shifted=False)
    current.loc[:99, "colour"] = "purple"
    current["control"] = np.nan
    current["variance"] = current["variance"].astype(str)
    current.loc[0, "variance"] = "n/a"
    result = compare(reference, current, DriftSettings())
    by = {c.column: c for c in result.columns}
    assert by["colour"].new_categories == ["purple"] and "new category" in by["colour"].note
    assert by["control"].drifted and "no values" in by["control"].note
    assert "missing values 0% -> 100%" in by["control"].note
    assert by["variance"].drifted and "not numbers" in by["variance"].note
    assert not by["mean_shift"].drifted


def test_missing_columns_and_another_schema_are_bad_input(reference: dict) -> None:
    current = sample(np.random.default_rng(6), 100, shifted=False)
    with pytest.raises(BadInput, match="lacks 1 column"):
        compare(reference, current.drop(columns=["control"]), DriftSettings())
    result = compare(
        reference,
        current.drop(columns=["control"]).assign(extra=1),
        DriftSettings(ignore=("control",)),
    )
    assert result.skipped == ["control"] and result.extra == ["extra"]
    with pytest.raises(BadInput, match="shares no column"):
        compare(reference, pd.DataFrame({"a": [1.0]}), DriftSettings())


def test_type_overrides_and_settings_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlopsctl.drift]\nshare = 0.2\nthreshold = 0.3\nignore = ["id"]\n'
        '[tool.mlopsctl.drift.types]\nzone = "categorical"\n'
    )
    settings = load_settings(tmp_path)
    assert (settings.share, settings.threshold, settings.ignore) == (0.2, 0.3, ("id",))
    rng = np.random.default_rng(7)
    train = pd.DataFrame({"zone": rng.integers(0, 30, 2000), "id": np.arange(2000)})
    train.to_csv(tmp_path / "train.csv", index=False)
    train.assign(zone=(train["zone"] + 1) % 30).to_csv(tmp_path / "now.csv", index=False)
    result, _, _ = check_drift(tmp_path / "now.csv", tmp_path / "train.csv", settings)
    assert [(c.column, c.kind) for c in result.columns] == [("zone", "categorical")]
    assert not result.columns[0].drifted  # the same mix of zones, relabelled by one
    (tmp_path / "pyproject.toml").write_text('[tool.mlopsctl.drift]\nmethod = "t-test"\n')
    with pytest.raises(BadInput, match="wrong type"):
        load_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.mlopsctl.drift]\nthresholds = 0.2\n")
    with pytest.raises(BadInput, match="unknown keys: thresholds"):
        load_settings(tmp_path)


def test_small_samples_are_tested_not_measured(reference: dict) -> None:
    small = compare(
        reference, sample(np.random.default_rng(9), 200, shifted=False), DriftSettings()
    )
    assert {c.method for c in small.columns} == {"ks", "chi2"} and small.method == "default"
    assert small.drifted_columns == []
    shifted = compare(
        reference, sample(np.random.default_rng(9), 200, shifted=True), DriftSettings()
    )
    assert sorted(shifted.drifted_columns) == ["colour", "mean_shift", "variance"]
