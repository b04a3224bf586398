from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.core.model.source import resolve_model, stage_model


@pytest.fixture(scope="session")
def model_dir(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained template's model as the image ships it (model.json with its sha256)."""
    dest = tmp_path_factory.mktemp("served") / "model"
    stage_model(resolve_model(None, None, trained_template), dest)
    return dest


@pytest.fixture(scope="session")
def test_rows(trained_template: Path) -> tuple[list[str], list[list[float]]]:
    """The project's held-out rows: (feature names, rows in feature order)."""
    import json

    import pandas as pd

    features = json.loads((trained_template / "models" / "model.json").read_text())["features"]
    frame = pd.read_csv(trained_template / "data" / "prepared" / "test.csv")
    return features, frame[features].to_numpy().tolist()
