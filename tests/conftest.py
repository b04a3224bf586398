"""Fixtures shared by every test: a hermetic environment and real generated projects.

Tests run mlopsctl as a user does (a subprocess of this interpreter), in temporary folders,
with their own git identity, DVC remotes under a temporary XDG data dir, and no analytics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

IDENTITY = {
    "GIT_AUTHOR_NAME": "mlopsctl tests",
    "GIT_AUTHOR_EMAIL": "tests@mlopsctl.invalid",
    "GIT_COMMITTER_NAME": "mlopsctl tests",
    "GIT_COMMITTER_EMAIL": "tests@mlopsctl.invalid",
}


@pytest.fixture(scope="session", autouse=True)
def hermetic_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.mktemp("env")
    saved = dict(os.environ)
    os.environ.update(IDENTITY)
    os.environ["XDG_DATA_HOME"] = str(base / "xdg-data")
    os.environ["PRE_COMMIT_HOME"] = str(base / "pre-commit")
    os.environ["DVC_NO_ANALYTICS"] = "1"
    os.environ["DVC_NO_UPDATE_CHECK"] = "1"
    # a temp directory of this session's own: what one test worker leaves or globs there
    # (build and serve folders) is not another's
    (base / "tmp").mkdir()
    os.environ["TMPDIR"] = str(base / "tmp")
    tempfile.tempdir = None
    # mlopsctl under test is this checkout, whatever else is installed
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), *filter(None, [saved.get("PYTHONPATH")])]
    )
    os.environ.pop("MLOPSCTL_DEBUG", None)
    yield
    os.environ.clear()
    os.environ.update(saved)
    tempfile.tempdir = None


def ctrl_c_reaches_it() -> None:
    """preexec_fn of a child a test sends Ctrl-C: a run started in the background of a script
    (`cmd &`) has SIGINT ignored, children inherit that, and Python then never raises
    KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def mlopsctl(
    *args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would: a new process, its stdout/stderr and exit code."""
    return run([sys.executable, "-m", "mlopsctl", *args], cwd, env, check)


def dvc(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "dvc", *args], cwd, check=check)


def git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["git", *args], cwd, check=check)


@pytest.fixture(scope="session")
def template_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project from `mlopsctl init`, made once; tests that change it use `project`."""
    where = tmp_path_factory.mktemp("made")
    mlopsctl("init", "demo", "--no-input", cwd=where, check=True)
    return where / "demo"


def copy_project(source: Path, tmp_path: Path) -> Path:
    """A private copy of a project made once per session (git, DVC cache and all)."""
    dest = tmp_path / source.name
    shutil.copytree(source, dest, symlinks=True)
    return dest


@pytest.fixture
def project(template_project: Path, tmp_path: Path) -> Path:
    """A private copy of the generated project (git, DVC cache and all)."""
    return copy_project(template_project, tmp_path)


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mlopsctl init --run`: one commit with a trained model, pushed; made once, read-only."""
    where = tmp_path_factory.mktemp("trained")
    mlopsctl("init", "demo", "--no-input", "--run", "--no-hooks", cwd=where, check=True)
    return where / "demo"


@pytest.fixture
def trained_project(trained_template: Path, tmp_path: Path) -> Path:
    """A private copy of the trained project: branch main, model v1's commit."""
    return copy_project(trained_template, tmp_path)


def commit_new_model(project: Path, c: float, message: str) -> str:
    """Retrain with another `model.C`, push the outputs, commit; the new commit's sha."""
    params = project / "params.yaml"
    text = params.read_text()
    params.write_text(text.replace("C: 1.0", f"C: {c}"))
    dvc("repro", "--quiet", cwd=project)
    dvc("push", "--quiet", cwd=project)
    git("commit", "--quiet", "--all", "-m", message, cwd=project)
    return git("rev-parse", "HEAD", cwd=project).stdout.strip()


@pytest.fixture(scope="session")
def two_models_template(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained project plus a second commit on main with a worse model (C=0.01, lower
    f1); branch `first` keeps the first model's commit. Made once, read-only."""
    dest = copy_project(trained_template, tmp_path_factory.mktemp("two-models"))
    git("branch", "first", cwd=dest)
    commit_new_model(dest, 0.01, "a worse model: C=0.01")
    return dest


@pytest.fixture
def two_models(two_models_template: Path, tmp_path: Path) -> Path:
    return copy_project(two_models_template, tmp_path)


def switch(project: Path, branch: str) -> None:
    """Check out a branch and the DVC outputs its dvc.lock names, as a user would."""
    git("checkout", "--quiet", branch, cwd=project)
    dvc("checkout", "--quiet", cwd=project)


FEATURES_MODULE = '''\
"""Features the model computes itself: a FunctionTransformer and a custom transformer."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from {package}.limits import LIMIT


def clip(x):
    return np.clip(x, -LIMIT, LIMIT)


class Shift(BaseEstimator, TransformerMixin):
    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return x + 0.0


def with_features(pipeline: Pipeline) -> Pipeline:
    return Pipeline([("clip", FunctionTransformer(clip)), ("shift", Shift()), *pipeline.steps])
'''


def add_features_module(project: Path, package: str = "demo") -> None:
    """A user's own code in the model: src/<package>/features.py (which imports a second
    module of the package) used by train.py to wrap the Pipeline."""
    src = project / "src" / package
    (src / "limits.py").write_text("LIMIT = 1e12\n")
    (src / "features.py").write_text(FEATURES_MODULE.format(package=package))
    train = src / "train.py"
    text = train.read_text()
    assert "pipeline = build_pipeline(params)" in text
    text = text.replace(
        "pipeline = build_pipeline(params)", "pipeline = with_features(build_pipeline(params))"
    )
    text = text.replace(
        f"from {package}.params import",
        f"from {package}.features import with_features\nfrom {package}.params import",
        1,
    )
    train.write_text(text)


@pytest.fixture(scope="session")
def features_template(trained_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained project whose Pipeline uses src/demo/features.py, retrained with
    `mlopsctl train`, pushed and committed. Made once, read-only."""
    dest = copy_project(trained_template, tmp_path_factory.mktemp("features"))
    add_features_module(dest)
    mlopsctl("train", cwd=dest, check=True)
    dvc("push", "--quiet", cwd=dest)
    git("add", "--all", cwd=dest)
    git("commit", "--quiet", "-m", "features.py in the model", cwd=dest)
    return dest


@pytest.fixture
def features_project(features_template: Path, tmp_path: Path) -> Path:
    return copy_project(features_template, tmp_path)


@pytest.fixture(scope="session")
def regression_template(template_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regression project (tests/regression.py): Ridge on house prices, primary metric
    rmse (minimize), trained and committed on main; gates from mlopsctl's defaults."""
    from tests.regression import make_regression_project

    return make_regression_project(template_project, tmp_path_factory.mktemp("regr") / "demo")


@pytest.fixture
def regression_project(regression_template: Path, tmp_path: Path) -> Path:
    return copy_project(regression_template, tmp_path)
