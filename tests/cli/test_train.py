"""`mlopsctl train` / `evaluate` on real projects: Hydra overrides in, DVC runs, metrics out."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import dvc, git, mlopsctl


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def params(project: Path) -> dict:
    return yaml.safe_load((project / "params.yaml").read_text())


def estimator(project: Path) -> str:
    return json.loads((project / "models/model.json").read_text())["estimator"]


def train_json(project: Path, *args: str) -> dict:
    proc = mlopsctl("train", *args, "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_nothing_changed_is_up_to_date(trained_project: Path) -> None:
    result = train_json(trained_project)
    assert result["up_to_date"] is True and result["stages"] == []
    assert result["metrics"] == result["baseline"]["metrics"] != {}
    proc = mlopsctl("train", cwd=trained_project)
    assert proc.returncode == 0 and "up to date" in proc.stdout
    assert git("status", "--porcelain", cwd=trained_project).stdout == ""


@pytest.mark.slow
def test_overrides_change_params_and_the_model(trained_project: Path) -> None:
    p = trained_project
    result = train_json(
        p, "model=random_forest", "model.n_estimators=20", "data.test_size=0.3", "--name", "rf20"
    )
    assert result["experiment"] == "rf20"
    assert [(s["stage"], s["status"]) for s in result["stages"]] == [
        ("validate", "cached"),
        ("prepare", "ran"),
        ("train", "ran"),
        ("evaluate", "ran"),
    ]
    assert params(p)["model"]["n_estimators"] == 20
    assert params(p)["data"]["test_size"] == 0.3
    assert estimator(p) == "sklearn.ensemble.RandomForestClassifier"
    assert result["metrics"] != result["baseline"]["metrics"]
    # the table a person reads: the metrics and their change against HEAD
    proc = mlopsctl(
        "train", "model=random_forest", "model.n_estimators=20", "data.test_size=0.3", cwd=p
    )
    assert "up to date" in proc.stdout and "HEAD" in proc.stdout


@pytest.mark.slow
def test_an_edit_to_conf_is_picked_up_without_overrides(trained_project: Path) -> None:
    p = trained_project
    conf = p / "conf/config.yaml"
    conf.write_text(conf.read_text().replace("model: logistic_regression", "model: random_forest"))
    result = train_json(p, "--no-exp")
    assert result["up_to_date"] is False and result["params_changed"] is True
    assert params(p)["model"]["_target_"] == "sklearn.ensemble.RandomForestClassifier"
    assert estimator(p) == "sklearn.ensemble.RandomForestClassifier"
    assert "Data and pipelines are up to date" in dvc("status", cwd=p).stdout


@pytest.mark.slow
def test_same_params_give_identical_model_bytes(trained_project: Path) -> None:
    p = trained_project
    committed = sha256(p / "models/model.pkl")
    train_json(p, "--force", "--no-exp")
    assert sha256(p / "models/model.pkl") == committed


@pytest.mark.parametrize(
    ("override", "words", "hint"),
    [
        ("model=nope", "model/nope", "random_forest"),
        ("model.nope=1", "model.nope", "+model.nope=VALUE"),
        ("data.test_size=abc", "takes a number", "0.2"),
    ],
)
def test_bad_overrides_exit_2_and_write_nothing(
    trained_project: Path, override: str, words: str, hint: str
) -> None:
    before = (trained_project / "params.yaml").read_bytes()
    proc = mlopsctl("train", override, cwd=trained_project)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    error, hint_line = [line for line in proc.stderr.splitlines() if line.strip()][:2]
    assert error.startswith("error:") and words in error
    assert hint_line.startswith("hint:") and hint in hint_line
    assert (trained_project / "params.yaml").read_bytes() == before


def test_outside_a_project_is_an_environment_error(tmp_path: Path) -> None:
    proc = mlopsctl("train", cwd=tmp_path)
    assert proc.returncode == 3
    assert "not inside an mlopsctl project" in proc.stderr and "mlopsctl init" in proc.stderr


@pytest.mark.slow
def test_a_failing_stage_exits_1_with_its_own_output(trained_project: Path) -> None:
    p = trained_project
    train_py = p / "src/demo/train.py"
    train_py.write_text(
        train_py.read_text().replace(
            "    params = load_params()\n",
            "    raise SystemExit('boom: the training code broke')\n",
            1,
        )
    )
    proc = mlopsctl("train", "model.C=0.5", "--no-exp", cwd=p)
    assert proc.returncode == 1, proc.stderr
    assert "boom: the training code broke" in proc.stderr
    assert "stage 'train' failed" in proc.stderr and "Traceback (most recent" not in proc.stderr
    assert params(p)["model"]["C"] == 0.5  # the requested config, nothing else


def _start_train(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "train", *args],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if text in line:
            return
    raise AssertionError(f"{text!r} never appeared (exit {proc.wait()})")


@pytest.mark.slow
def test_a_second_run_waits_for_nobody_and_says_the_lock_is_held(trained_project: Path) -> None:
    first = _start_train(trained_project, "--force", "--no-exp")
    _wait_for(first, "prepare running")
    second = mlopsctl("train", "model.C=0.3", cwd=trained_project)
    assert second.returncode == 3
    assert "another run holds the lock" in second.stderr
    assert first.wait(timeout=120) == 0
    assert params(trained_project)["model"]["C"] == 1.0  # the second wrote nothing


@pytest.mark.slow
def test_killed_mid_stage_the_next_run_completes_identically(trained_project: Path) -> None:
    p = trained_project
    committed = sha256(p / "models/model.pkl")
    first = _start_train(p, "--force", "--no-exp")
    _wait_for(first, "train running")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    result = train_json(p, "--no-exp")
    assert result["up_to_date"] is False
    assert sha256(p / "models/model.pkl") == committed
    assert "Data and pipelines are up to date" in dvc("status", cwd=p).stdout
    assert git("status", "--porcelain", cwd=p).stdout == ""


@pytest.mark.slow
def test_evaluate_shows_metrics_plots_and_compares_with_a_rev(trained_project: Path) -> None:
    p = trained_project
    proc = mlopsctl("evaluate", "--json", cwd=p)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["up_to_date"] is True
    assert "plots/images/roc_curve.png" in shown["plots"]
    conf = p / "conf/model/logistic_regression.yaml"
    conf.write_text(conf.read_text().replace("C: 1.0", "C: 0.05"))
    train_json(p, "--no-exp")
    git("commit", "-qam", "weaker model", cwd=p)
    assert "up to date" in mlopsctl("evaluate", cwd=p).stdout
    proc = mlopsctl("evaluate", "--rev", "HEAD~1", "--json", cwd=p)
    shown = json.loads(proc.stdout)
    assert shown["baseline"]["rev"] == "HEAD~1"
    assert shown["metrics"] != shown["baseline"]["metrics"]
    proc = mlopsctl("evaluate", "--rev", "no-such-rev", cwd=p)
    assert proc.returncode == 2 and "no-such-rev" in proc.stderr


@pytest.mark.slow
def test_metrics_are_compared_with_the_model_in_production(trained_project: Path) -> None:
    p = trained_project
    assert train_json(p)["deployed"] is None  # no registry yet
    for stage in ("staging", "production"):
        proc = mlopsctl("promote", "--to", stage, cwd=p)
        assert proc.returncode == 0, proc.stderr
    deployed_metrics = json.loads((p / "metrics.json").read_text())
    result = train_json(p, "model.C=0.05", "--no-exp")
    assert result["deployed"]["ref"] == "demo#production (v0.0.1)"
    assert result["deployed"]["metrics"] == deployed_metrics
    assert result["metrics"] != deployed_metrics
    proc = mlopsctl("train", "model.C=0.05", cwd=p, env=dict(os.environ, COLUMNS="200"))
    assert "demo#production (v0.0.1)" in proc.stdout


@pytest.mark.slow
def test_editing_any_module_of_the_package_retrains_and_a_stale_model_fails_the_hook(
    features_project: Path,
) -> None:
    """limits.py is imported by features.py, which train.py uses: neither is named in
    dvc.yaml, yet editing it makes the model stale until `train` re-runs."""
    p = features_project
    assert mlopsctl("check", "pipeline-fresh", cwd=p).returncode == 0
    lock = (p / "dvc.lock").read_text()
    (p / "src" / "demo" / "limits.py").write_text("LIMIT = 1e11\n")
    stale = mlopsctl("check", "pipeline-fresh", cwd=p)
    assert stale.returncode == 1 and "stage train" in stale.stdout + stale.stderr
    result = train_json(p)
    assert "train" in [s["stage"] for s in result["stages"] if s["status"] == "ran"]
    assert (p / "dvc.lock").read_text() != lock  # the package's new hash is recorded
    assert mlopsctl("check", "pipeline-fresh", cwd=p).returncode == 0
    # Python's byte-code caches (pytest, an import) do not make the package look edited
    cache = p / "src" / "demo" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "limits.cpython-311.pyc").write_bytes(b"not code")
    assert mlopsctl("check", "pipeline-fresh", cwd=p).returncode == 0
    assert train_json(p)["up_to_date"] is True


@pytest.mark.slow
def test_train_leaves_what_the_user_staged_staged(trained_project: Path) -> None:
    """`dvc exp run` resets git's index; a bare `git commit` after `train` must still commit
    what was staged before it (e.g. the .dvc pointer `data add` staged)."""
    p = trained_project
    (p / "notes.md").write_text("new data arrives on Mondays\n")
    (p / "README.md").write_text((p / "README.md").read_text() + "\nMore.\n")
    git("add", "notes.md", "README.md", cwd=p)
    (p / "README.md").write_text((p / "README.md").read_text() + "Not staged.\n")
    staged = git("diff", "--cached", cwd=p).stdout
    result = train_json(p, "model.C=0.5")
    assert result["up_to_date"] is False
    assert git("diff", "--cached", cwd=p).stdout == staged  # the very same staged content
    assert "Not staged." in (p / "README.md").read_text()
