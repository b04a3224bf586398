"""`mlopsctl reproduce`: rebuild a registered version from scratch and compare."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.cli.test_init import assert_one_line_error
from tests.conftest import dvc, git, mlopsctl


def leftovers() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).glob("mlopsctl-reproduce-*"))


@pytest.mark.slow
def test_a_fresh_clone_reproduces_the_registered_model(
    trained_project: Path, tmp_path: Path
) -> None:
    assert mlopsctl("promote", "--to", "staging", cwd=trained_project).returncode == 0
    git("clone", "--quiet", str(trained_project), "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    assert not (clone / "data/raw/breast_cancer.csv").exists()  # nothing pulled yet
    before = leftovers()

    proc = mlopsctl("reproduce", "demo#staging", cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical" in proc.stdout
    # cleaned up: no worktree, no temporary folder, the clone untouched
    assert len(git("worktree", "list", cwd=clone).stdout.splitlines()) == 1
    assert leftovers() == before
    assert git("status", "--porcelain", cwd=clone).stdout == ""


@pytest.mark.slow
def test_nondeterministic_training_is_caught(trained_project: Path) -> None:
    train = trained_project / "src/demo/train.py"
    code = train.read_text()
    # the fitted pipeline now carries the time it was fitted: new bytes on every run
    code = code.replace(
        "        pickle.dump(pipeline, fh, protocol=5)",
        "        pipeline.fitted_at_ = __import__('time').time_ns()\n"
        "        pickle.dump(pipeline, fh, protocol=5)",
    )
    train.write_text(code)
    dvc("repro", "--quiet", cwd=trained_project)
    dvc("push", "--quiet", cwd=trained_project)
    git(
        "commit", "--quiet", "--all", "-m", "stamp the model with its fit time", cwd=trained_project
    )
    assert mlopsctl("promote", "--to", "staging", cwd=trained_project).returncode == 0

    proc = mlopsctl("reproduce", "demo@v0.0.1", cwd=trained_project)
    assert_one_line_error(proc, 1)
    assert "differs" in proc.stdout
    differences = [line.strip() for line in proc.stdout.splitlines()[1:]]
    assert len(differences) == 1 and differences[0].startswith("models/model.pkl sha256")
    assert len(git("worktree", "list", cwd=trained_project).stdout.splitlines()) == 1


def test_reproduce_refuses_unknown_versions(trained_project: Path) -> None:
    proc = mlopsctl("reproduce", "demo@v1.0.0", cwd=trained_project)
    assert_one_line_error(proc, 2)
    assert "unknown model" in proc.stderr
