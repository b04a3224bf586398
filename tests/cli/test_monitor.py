"""`mlopsctl monitor drift` on a trained project: its saved reference profile against new
data, a drifted copy and the prediction service's log."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mlopsctl.serving.predlog import PredictionLog
from tests.conftest import mlopsctl


def _test_rows(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "data" / "prepared" / "test.csv")


def test_new_data_like_the_training_data_does_not_drift(trained_template: Path) -> None:
    proc = mlopsctl("monitor", "drift", "--current", "data/prepared/test.csv", cwd=trained_template)
    assert proc.returncode == 0, proc.stderr
    assert "No dataset drift" in proc.stdout and "mean_radius" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_drifted_data_exits_1_with_json_and_a_report(
    trained_template: Path, tmp_path: Path
) -> None:
    shifted = _test_rows(trained_template).drop(columns=["target"])
    for column in shifted.columns[:20]:
        shifted[column] = shifted[column] * 1.5
    shifted.to_csv(tmp_path / "now.csv", index=False)
    proc = mlopsctl(
        "monitor",
        "drift",
        "--current",
        str(tmp_path / "now.csv"),
        "--json",
        "--report",
        str(tmp_path / "report"),
        cwd=trained_template,
    )
    assert proc.returncode == 1, proc.stderr
    assert "error: dataset drift" in proc.stderr and "hint:" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["dataset_drift"] is True
    assert set(result["drifted_columns"]) >= set(shifted.columns[:20])
    assert result["skipped"] == ["target"]  # new data has no labels
    first = result["columns"][0]
    assert set(first) >= {"column", "kind", "method", "score", "threshold", "drifted"}
    assert (tmp_path / "report" / "drift.html").is_file()
    assert (tmp_path / "report" / "mean_radius.png").read_bytes()[:4] == b"\x89PNG"


def test_reads_the_prediction_log(trained_template: Path, tmp_path: Path) -> None:
    rows = _test_rows(trained_template).drop(columns=["target"])
    log = PredictionLog(tmp_path / "log", model="m", version="v0.0.1", max_bytes=20_000)
    for start in range(0, len(rows), 10):
        chunk = rows.iloc[start : start + 10]
        log.write(list(chunk.columns), chunk.to_numpy().tolist(), [0] * len(chunk))
    log.close()
    assert len(list((tmp_path / "log").iterdir())) > 1  # rotated
    proc = mlopsctl(
        "monitor", "drift", "--current", str(tmp_path / "log"), "--json", cwd=trained_template
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows_current"] <= len(rows)


def test_bad_input_is_exit_2_without_a_traceback(trained_template: Path, tmp_path: Path) -> None:
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty.csv").write_text("")
    cases = [
        ("--current", str(tmp_path / "other.csv")),
        ("--current", str(tmp_path / "empty.csv")),
        ("--current", str(tmp_path / "missing.csv")),
        ("--current", "data/prepared/test.csv", "--method", "t"),
    ]
    for args in cases:
        proc = mlopsctl("monitor", "drift", *args, cwd=trained_template)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    proc = mlopsctl("monitor", "drift", "--current", str(tmp_path / "other.csv"), cwd=tmp_path)
    assert proc.returncode == 2 and "no reference" in proc.stderr
