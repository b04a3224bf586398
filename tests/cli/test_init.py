"""`mlopsctl init` as a user meets it: a committed project whose pipeline, tests and hooks run."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, ctrl_c_reaches_it, dvc, git, mlopsctl, run


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: "), proc.stderr
    assert any(line.startswith("hint: ") for line in lines), proc.stderr


def test_init_makes_one_clean_commit_with_everything(template_project: Path) -> None:
    p = template_project
    assert git("status", "--porcelain", cwd=p).stdout == ""
    assert git("rev-list", "--count", "HEAD", cwd=p).stdout.strip() == "1"
    tracked = set(git("ls-files", cwd=p).stdout.split())
    for expected in [
        "conf/config.yaml",
        "conf/data/default.yaml",
        "conf/model/logistic_regression.yaml",
        "conf/model/random_forest.yaml",
        "conf/model/hist_gradient_boosting.yaml",
        "params.yaml",
        "dvc.yaml",
        "src/demo/prepare.py",
        "src/demo/train.py",
        "src/demo/evaluate.py",
        "tests/test_config.py",
        "tests/test_data.py",
        "tests/test_model.py",
        ".pre-commit-config.yaml",
        ".github/workflows/ci.yaml",
        ".gitignore",
        "README.md",
        ".copier-answers.yml",
        ".dvc/config",
        "data/raw/breast_cancer.csv.dvc",
        "data/schemas/breast_cancer.yaml",
    ]:
        assert expected in tracked, expected
    # the data is in DVC, not in git
    assert "data/raw/breast_cancer.csv" not in tracked
    assert (p / "data/raw/breast_cancer.csv").stat().st_size > 100_000


def test_data_is_versioned_and_pushed_to_the_default_remote(template_project: Path) -> None:
    p = template_project
    assert "No changes" in dvc("data", "status", cwd=p).stdout
    assert "in sync" in dvc("status", "--cloud", "data/raw/breast_cancer.csv.dvc", cwd=p).stdout
    # DVC's own answer (`dvc remote list` wraps a long path over two lines)
    assert dvc("config", "core.remote", cwd=p).stdout.strip() == "default"
    remote_dir = Path(dvc("config", "remote.default.url", cwd=p).stdout.strip())
    assert remote_dir.is_dir() and not remote_dir.is_relative_to(p)
    assert Path(os.environ["XDG_DATA_HOME"]) in remote_dir.parents
    assert "analytics = False" in (p / ".dvc/config").read_text()


def test_params_yaml_is_the_composed_config_and_dvc_yaml_declares_the_model(
    template_project: Path,
) -> None:
    p = template_project
    params = yaml.safe_load((p / "params.yaml").read_text())
    assert params["model"]["_target_"] == "sklearn.linear_model.LogisticRegression"
    assert params["data"]["target"] == "target"
    assert params["data"]["split_seed"] == params["seed"] == 42
    pipeline = yaml.safe_load((p / "dvc.yaml").read_text())
    assert list(pipeline["stages"]) == ["validate", "prepare", "train", "evaluate"]
    for stage in pipeline["stages"].values():
        assert stage["deps"] and stage["params"]
    assert pipeline["artifacts"]["demo"] == {
        "path": "models/model.pkl",
        "type": "model",
        "desc": pipeline["artifacts"]["demo"]["desc"],
        "labels": ["tabular", "classification", "scikit-learn"],
    }
    answers = yaml.safe_load((p / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "demo"
    # what `copier update` / `mlopsctl update` need: the template's history and version
    assert Path(answers["_src_path"]).name == "tabular-classification.git"
    assert answers["_commit"].startswith("v0.1.0-")
    # the requirement recorded is the one requirements.txt got (an installable one, or the
    # commented placeholder init warned about when this mlopsctl's origin is not known)
    pinned = [ln for ln in (p / "requirements.txt").read_text().splitlines() if "mlopsctl" in ln]
    assert answers["mlopsctl_requirement"] in pinned


@pytest.mark.slow
def test_dvc_repro_runs_four_stages_and_rebuilds_identical_model(project: Path) -> None:
    out = dvc("repro", cwd=project).stdout
    for stage in ("validate", "prepare", "train", "evaluate"):
        assert f"Running stage '{stage}'" in out
    assert out.index("Running stage 'validate'") < out.index("Running stage 'prepare'")
    profile = json.loads((project / "data/reference/profile.json").read_text())
    assert profile["data"] == "data/prepared/train.csv" and profile["rows"] == 455
    metrics = json.loads((project / "metrics.json").read_text())
    assert set(metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert metrics["roc_auc"] > 0.9
    for plot in [
        "plots/confusion.csv",
        "plots/roc.csv",
        "plots/images/confusion_matrix.png",
        "plots/images/roc_curve.png",
    ]:
        assert (project / plot).stat().st_size > 0, plot
    first = {
        f: sha256(project / f)
        for f in [
            "models/model.pkl",
            "metrics.json",
            "plots/images/roc_curve.png",
            "data/reference/profile.json",
        ]
    }
    dvc("repro", "--force", cwd=project)
    assert {f: sha256(project / f) for f in first} == first
    assert "Data and pipelines are up to date" in dvc("status", cwd=project).stdout


@pytest.mark.slow
def test_the_projects_own_tests_pass(project: Path) -> None:
    proc = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed" in proc.stdout


@pytest.mark.slow
def test_pre_commit_runs_clean_on_the_fresh_project(project: Path) -> None:
    proc = run([sys.executable, "-m", "pre_commit", "run", "--all-files"], project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git("status", "--porcelain", cwd=project).stdout == ""
    assert (project / ".git/hooks/pre-commit").is_file()


def test_a_clone_on_this_machine_pulls_the_data(template_project: Path, tmp_path: Path) -> None:
    git("clone", "-q", str(template_project), "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    assert not (clone / "data/raw/breast_cancer.csv").exists()
    # the pipeline has not run yet: its outputs are not in any remote, only the data is
    dvc("pull", "--allow-missing", cwd=clone)
    assert sha256(clone / "data/raw/breast_cancer.csv") == sha256(
        template_project / "data/raw/breast_cancer.csv"
    )


@pytest.mark.slow
def test_run_commits_a_baseline_that_a_clone_pulls_whole(tmp_path: Path) -> None:
    proc = mlopsctl("init", "demo", "--no-input", "--run", "--no-hooks", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    p = tmp_path / "demo"
    assert git("status", "--porcelain", cwd=p).stdout == ""
    assert "Data and pipelines are up to date" in dvc("status", cwd=p).stdout
    assert "in sync" in dvc("status", "--cloud", cwd=p).stdout
    tracked = git("ls-files", cwd=p).stdout.split()
    assert {"dvc.lock", "metrics.json", "plots/roc.csv"} <= set(tracked)
    git("clone", "-q", str(p), "clone", cwd=tmp_path)
    dvc("pull", cwd=tmp_path / "clone")
    assert sha256(tmp_path / "clone/models/model.pkl") == sha256(p / "models/model.pkl")


def test_names_and_remote_options(tmp_path: Path) -> None:
    shared = tmp_path / "shared-remote"
    proc = mlopsctl(
        "init",
        "x",
        "--name",
        "churn-model",
        "--remote",
        "shared-remote",
        "--no-input",
        "--no-hooks",
        "--json",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["name"] == "churn-model" and result["package"] == "churn_model"
    assert result["remote"] == str(shared)
    assert (tmp_path / "x/src/churn_model/train.py").is_file()
    assert "churn-model:" in (tmp_path / "x/dvc.yaml").read_text()
    assert any(shared.rglob("*")), "data was pushed to the --remote"
    assert not (tmp_path / "x/.git/hooks/pre-commit").exists()


def test_refuses_a_non_empty_folder_and_touches_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    proc = mlopsctl("init", "busy", "--no-input", cwd=tmp_path)
    assert_one_line_error(proc, 2)
    assert "not empty" in proc.stderr and "--force" in proc.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_force_adds_the_project_and_keeps_other_files(tmp_path: Path) -> None:
    dest = tmp_path / "busy"
    (dest / "data").mkdir(parents=True)
    (dest / "notes.txt").write_text("mine")
    (dest / "data/extra.csv").write_text("a,b\n1,2\n")
    (dest / "README.md").write_text("old readme")
    proc = mlopsctl("init", "busy", "--no-input", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "data/extra.csv").read_text() == "a,b\n1,2\n"
    assert "dvc repro" in (dest / "README.md").read_text()  # the template's file wins
    assert (dest / "dvc.yaml").is_file() and (dest / ".git").is_dir()
    # the user's files are left for the user to commit; the project's are committed
    untracked = git("status", "--porcelain", cwd=dest).stdout.split("\n")
    assert sorted(filter(None, untracked)) == ["?? data/extra.csv", "?? notes.txt"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--name", "Bad Name"], "invalid project name"),
        (["--name", "ok", "--package", "class"], "invalid package name"),
        (["--name", "ok", "--package", "json"], "shadow"),
        (["--template", "nope"], "tabular-classification"),
    ],
)
def test_bad_input_exits_2_with_a_hint(tmp_path: Path, args: list[str], words: str) -> None:
    proc = mlopsctl("init", "new", "--no-input", *args, cwd=tmp_path)
    assert_one_line_error(proc, 2)
    assert words in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_existing_git_repository(tmp_path: Path) -> None:
    git("init", "-q", "repo", cwd=tmp_path)
    proc = mlopsctl("init", "repo", "--no-input", "--force", cwd=tmp_path)
    assert_one_line_error(proc, 2)
    assert "already a git repository" in proc.stderr


def test_missing_git_identity_is_an_environment_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, EMAIL="")
    env.pop("EMAIL")
    proc = mlopsctl("init", "demo", "--no-input", cwd=tmp_path, env=env)
    assert_one_line_error(proc, 3)
    assert "git config --global user.email" in proc.stderr
    assert not (tmp_path / "demo").exists()


def test_python_without_the_project_packages_is_an_environment_error(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True
    )
    env = dict(os.environ, PATH=f"{tmp_path / 'bare/bin'}{os.pathsep}{os.environ['PATH']}")
    proc = mlopsctl("init", "demo", "--no-input", cwd=tmp_path, env=env)
    assert_one_line_error(proc, 3)
    assert "cannot import" in proc.stderr and "pandas" in proc.stderr
    assert not (tmp_path / "demo").exists()


def test_a_failure_halfway_leaves_nothing_behind(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the remote should go")
    proc = mlopsctl("init", "demo", "--no-input", "--remote", str(blocker / "remote"), cwd=tmp_path)
    assert_one_line_error(proc, 3)
    assert "DVC remote" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]


def test_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    work, xdg = tmp_path / "work", tmp_path / "xdg"
    work.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "init", "demo", "--no-input"],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=ctrl_c_reaches_it,
        env=dict(os.environ, XDG_DATA_HOME=str(xdg)),
    )
    deadline = time.monotonic() + 60
    # interrupt once the staging folder holds the rendered template
    while time.monotonic() < deadline and proc.poll() is None:
        staged = [
            p for p in work.iterdir() if p.name.startswith(".demo.mlopsctl-init-") and p.is_dir()
        ]
        if staged and (staged[0] / "dvc.yaml").exists():
            break
        time.sleep(0.01)
    assert proc.poll() is None, "init finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert list(work.iterdir()) == []
    remotes = xdg / "mlopsctl/dvc-remotes"
    assert not remotes.exists() or list(remotes.iterdir()) == []


def test_requirements_pin_the_mlopsctl_that_made_the_project(template_project: Path) -> None:
    """The line is where pip says this mlopsctl came from; when that is nowhere a CI runner
    can reach, it is left commented and init warned (never `mlopsctl==0.1.0` from no index)."""
    from mlopsctl.core.answers import mlopsctl_requirement

    line, warning = mlopsctl_requirement()
    lines = (template_project / "requirements.txt").read_text().splitlines()
    assert line in lines
    assert line.startswith(("mlopsctl==", "mlopsctl @ ", "# mlopsctl @ "))
    assert (warning is None) == (not line.startswith("#"))
    if warning:
        assert "--mlopsctl-requirement" in warning


@pytest.mark.slow
def test_an_mlopsctl_requirement_given_to_init_is_installable(tmp_path: Path) -> None:
    """`--mlopsctl-requirement` with a git URL and commit of this checkout: pip resolves it
    offline (`--dry-run --no-deps --no-build-isolation`, no index)."""
    commit = git("rev-parse", "HEAD", cwd=REPO_ROOT).stdout.strip()
    spec = f"mlopsctl @ git+file://{REPO_ROOT}@{commit}"
    proc = mlopsctl(
        "init", "demo", "--no-input", "--no-hooks", "--mlopsctl-requirement", spec, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "demo" / "requirements.txt").read_text().splitlines()
    assert spec in lines and "warning" not in proc.stderr
    only = tmp_path / "mlopsctl-only.txt"
    only.write_text(spec + "\n")
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index"]
    resolved = run([*pip, "--no-build-isolation", "-r", str(only)], tmp_path)
    assert resolved.returncode == 0, resolved.stderr
    assert "Would install mlopsctl" in resolved.stdout


def test_a_bad_mlopsctl_requirement_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    for spec, said in (("not a requirement!", "is not a requirement"), ("dvc>=3", "not mlopsctl")):
        proc = mlopsctl("init", "demo", "--no-input", "--mlopsctl-requirement", spec, cwd=tmp_path)
        assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr
        assert list(tmp_path.iterdir()) == []
