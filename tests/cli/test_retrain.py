"""`mlopsctl retrain` on a real trained project: real DVC, real gates, real tags."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import git, mlopsctl

RAW = Path("data/raw/breast_cancer.csv")


def _state(project: Path) -> tuple[str, str, str, str]:
    """What must not change on a failed retrain: HEAD, tags, the raw data and the model."""

    def md5(path: str) -> str:
        return hashlib.md5((project / path).read_bytes()).hexdigest()

    head = git("rev-parse", "HEAD", cwd=project).stdout
    tags = git("tag", cwd=project).stdout
    return head, tags, md5(str(RAW)), md5("models/model.pkl")


def _drifted(project: Path, out: Path) -> Path:
    frame = pd.read_csv(project / RAW)
    for column in frame.columns[:20]:  # a shift of half a std: drift, still within the schema
        frame[column] = frame[column] + 0.5 * frame[column].std()
    frame.to_csv(out, index=False)
    return out


@pytest.mark.slow
def test_drifted_data_becomes_a_new_version_in_staging(
    trained_project: Path, tmp_path: Path
) -> None:
    new = _drifted(trained_project, tmp_path / "landing.csv")
    proc = mlopsctl("retrain", "--data", str(new), "--if-drift", cwd=trained_project)
    assert proc.returncode == 0, proc.stderr
    assert "dataset drift" in proc.stderr and "✓ promote" in proc.stderr
    tags = git("tag", cwd=trained_project).stdout.split()
    assert sorted(tags) == ["demo#staging#1", "demo@v0.0.1"]
    log = git("log", "--format=%s", cwd=trained_project).stdout.splitlines()
    assert log[0].startswith("Retrain on landing.csv") and len(log) == 2
    assert git("status", "--porcelain", cwd=trained_project).stdout == ""
    assert (trained_project / RAW).read_bytes() == new.read_bytes()
    listing = json.loads(mlopsctl("registry", "list", "--json", cwd=trained_project).stdout)
    assert "v0.0.1" in json.dumps(listing) and "staging" in json.dumps(listing)
    # the same data again: nothing to do
    before = _state(trained_project)
    proc = mlopsctl("retrain", "--data", str(new), "--json", cwd=trained_project)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outcome"] == "unchanged"
    assert _state(trained_project) == before


@pytest.mark.slow
def test_failures_leave_the_project_as_it_was(trained_project: Path, tmp_path: Path) -> None:
    before = _state(trained_project)
    invalid = pd.read_csv(trained_project / RAW).assign(mean_radius="abc")
    invalid.to_csv(tmp_path / "invalid.csv", index=False)
    proc = mlopsctl("retrain", "--data", str(tmp_path / "invalid.csv"), cwd=trained_project)
    assert proc.returncode == 1 and "does not match" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _state(trained_project) == before

    same = pd.read_csv(trained_project / RAW).sample(frac=1, random_state=0)
    same.to_csv(tmp_path / "same.csv", index=False)
    proc = mlopsctl(
        "retrain", "--data", str(tmp_path / "same.csv"), "--if-drift", cwd=trained_project
    )
    assert proc.returncode == 0 and "No drift, nothing to do" in proc.stdout
    assert _state(trained_project) == before

    # trained and committed, then refused by the gates: everything is put back
    new = _drifted(trained_project, tmp_path / "landing.csv")
    proc = mlopsctl("retrain", "--data", str(new), "--to", "production", cwd=trained_project)
    assert proc.returncode == 1, proc.stderr
    assert "unchanged" in proc.stderr and "passed staging" in proc.stdout
    assert _state(trained_project) == before
    assert git("status", "--porcelain", cwd=trained_project).stdout == ""

    (trained_project / "params.yaml").write_text(
        (trained_project / "params.yaml").read_text() + "\n"
    )
    proc = mlopsctl("retrain", "--data", str(new), cwd=trained_project)
    assert proc.returncode == 2 and "uncommitted changes" in proc.stderr
