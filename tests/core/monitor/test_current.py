"""Reading current data for drift: files, folders, samples and the prediction log."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlopsctl.core.monitor.current import read_current
from mlopsctl.errors import BadInput
from tests.core.monitor.test_drift import sample


def test_reading_files_folders_samples_and_the_prediction_log(tmp_path: Path) -> None:
    frame = sample(np.random.default_rng(8), 1000, shifted=False)
    frame.iloc[:600].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[600:].to_parquet(tmp_path / "b.parquet")
    rows, total = read_current(tmp_path)
    assert (len(rows), total) == (1000, 1000)
    rows, total = read_current(tmp_path, sample=250)
    assert (len(rows), total) == (250, 1000)
    log = tmp_path / "log"
    log.mkdir()
    records = [
        {
            "ts": "2026-01-01T00:00:00.000Z",
            "model": "m",
            "version": "v0.0.1",
            "features": {"x": float(i), "c": "a"},
            "prediction": 1,
        }
        for i in range(10)
    ]
    (log / "predictions-1.jsonl.1").write_text("".join(json.dumps(r) + "\n" for r in records[:4]))
    (log / "predictions-1.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records[4:]) + '{"ts": "half a li'
    )
    rows, total = read_current(log)
    assert total == 10 and sorted(rows["x"]) == [float(i) for i in range(10)]
    assert list(rows.columns) == ["x", "c"]
    (tmp_path / "empty.csv").write_text("x,c\n")
    with pytest.raises(BadInput, match="no rows"):
        read_current(tmp_path / "empty.csv")
    (log / "predictions-2.jsonl").write_text("not json\n")
    with pytest.raises(BadInput, match="line 1: not a JSON record"):
        read_current(log)
