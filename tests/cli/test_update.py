"""`mlopsctl update` as a user runs it: a project made from template v0.1.0, user edits to
conf/, src/ and dvc.yaml, then the template's v0.2.0 taken with real copier and real git."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import copy_project, git, mlopsctl, run
from tests.template_versions import (
    DVC_YAML_NOTE,
    NEW_FILE,
    TRAIN_NOTE,
    history_env,
    make_history,
)

USER_DVC_NOTE = "# my note at the end of dvc.yaml"
USER_TRAIN_NOTE = "# my helper at the end of train.py"


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("template-versions")
    return history_env(make_history(base / "history"), base / "data")


@pytest.fixture(scope="module")
def made_v1(versions: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("made-v1")
    mlopsctl(
        "init",
        "demo",
        "--no-input",
        "--no-hooks",
        "--mlopsctl-requirement",
        "mlopsctl==0.1.0",
        cwd=where,
        env=versions,
        check=True,
    )
    return where / "demo"


@pytest.fixture
def edited(made_v1: Path, tmp_path: Path) -> Path:
    """The v0.1.0 project with a user's committed edits to conf/, src/ and dvc.yaml."""
    project = copy_project(made_v1, tmp_path)
    config = project / "conf" / "config.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
    for path, note in (
        (project / "dvc.yaml", USER_DVC_NOTE),
        (project / "src" / "demo" / "train.py", USER_TRAIN_NOTE),
    ):
        path.write_text(path.read_text() + note + "\n")
    git("commit", "--quiet", "--no-verify", "--all", "-m", "my edits", cwd=project)
    return project


def head(project: Path) -> str:
    return git("rev-parse", "HEAD", cwd=project).stdout.strip()


def status(project: Path) -> str:
    return git("status", "--porcelain", cwd=project).stdout


def test_update_keeps_user_edits_and_brings_new_files(
    edited: Path, versions: dict[str, str]
) -> None:
    before = head(edited)
    done = mlopsctl("update", "--to", "0.2.0", cwd=edited, env=versions)
    assert done.returncode == 0, done.stderr
    assert NEW_FILE in done.stdout and "dvc.yaml" in done.stdout

    assert head(edited) == before  # staged, not committed
    staged = git("diff", "--cached", "--name-only", cwd=edited).stdout.split()
    assert {NEW_FILE, "dvc.yaml", "conf/model/random_forest.yaml", ".copier-answers.yml"} <= set(
        staged
    )
    assert git("diff", "--name-only", cwd=edited).stdout == ""  # nothing left unstaged

    assert "seed: 7" in (edited / "conf" / "config.yaml").read_text()
    dvc_yaml = (edited / "dvc.yaml").read_text()
    assert DVC_YAML_NOTE in dvc_yaml and USER_DVC_NOTE in dvc_yaml
    train = (edited / "src" / "demo" / "train.py").read_text()
    assert TRAIN_NOTE in train and USER_TRAIN_NOTE in train
    assert "n_estimators: 300" in (edited / "conf" / "model" / "random_forest.yaml").read_text()
    assert (edited / NEW_FILE).is_file()
    assert "seed: 7" in (edited / "params.yaml").read_text()

    answers = (edited / ".copier-answers.yml").read_text()
    assert "_commit: v0.2.0-0-g" in answers
    assert "mlopsctl_requirement: mlopsctl==0.2.0" in answers
    assert "mlopsctl==0.2.0" in (edited / "requirements.txt").read_text()


def test_conflicting_edit_is_shown_and_nothing_is_lost(
    edited: Path, versions: dict[str, str]
) -> None:
    forest = edited / "conf" / "model" / "random_forest.yaml"
    forest.write_text(forest.read_text().replace("n_estimators: 200", "n_estimators: 500"))
    git("commit", "--quiet", "--no-verify", "--all", "-m", "more trees", cwd=edited)

    done = mlopsctl("update", "--to", "0.2.0", "--commit", cwd=edited, env=versions)
    assert done.returncode == 1, done.stderr
    assert "conflict" in done.stdout and "conf/model/random_forest.yaml" in done.stderr
    text = forest.read_text()
    assert "n_estimators: 500" in text and "n_estimators: 300" in text
    assert "<<<<<<<" in text and ">>>>>>>" in text
    # the rest of the update is there, and nothing was committed with markers in it
    assert (edited / NEW_FILE).is_file()
    assert git("log", "-1", "--format=%s", cwd=edited).stdout.strip() == "more trees"


def test_dirty_tree_is_refused_and_left_alone(edited: Path, versions: dict[str, str]) -> None:
    config = edited / "conf" / "config.yaml"
    config.write_text(config.read_text() + "# not committed\n")
    before = (head(edited), status(edited))

    done = mlopsctl("update", "--to", "0.2.0", cwd=edited, env=versions)
    assert done.returncode == 2
    assert "uncommitted changes" in done.stderr and "conf/config.yaml" in done.stderr
    assert "Traceback" not in done.stderr
    assert (head(edited), status(edited)) == before
    assert not (edited / NEW_FILE).exists()


def test_dry_run_lists_changes_and_touches_nothing(edited: Path, versions: dict[str, str]) -> None:
    before = (head(edited), (edited / "dvc.yaml").read_text())
    done = mlopsctl("update", "--to", "0.2.0", "--dry-run", cwd=edited, env=versions)
    assert done.returncode == 0, done.stderr
    assert NEW_FILE in done.stdout and "nothing was changed" in done.stdout
    assert (head(edited), (edited / "dvc.yaml").read_text()) == before
    assert status(edited) == ""


def test_commit_leaves_a_clean_tree(edited: Path, versions: dict[str, str]) -> None:
    before = head(edited)
    done = mlopsctl("update", "--to", "0.2.0", "--commit", "--json", cwd=edited, env=versions)
    assert done.returncode == 0, done.stderr
    assert head(edited) != before and status(edited) == ""
    assert git("rev-parse", "HEAD~1", cwd=edited).stdout.strip() == before
    assert (edited / NEW_FILE).is_file()
    again = mlopsctl("update", "--to", "0.2.0", cwd=edited, env=versions)
    assert again.returncode == 0 and "Up to date" in again.stdout


def test_project_without_commit_updates_with_from(
    made_v1: Path, tmp_path: Path, versions: dict[str, str]
) -> None:
    """A project as the released template made it: no _commit, the install's path as source,
    no mlopsctl answer."""
    project = copy_project(made_v1, tmp_path)
    answers = project / ".copier-answers.yml"
    kept = [
        line
        for line in answers.read_text().splitlines()
        if not line.startswith(("_commit", "_src_path", "mlopsctl_requirement"))
    ]
    old_source = "/usr/lib/python3/site-packages/mlopsctl/templates/tabular-classification"
    answers.write_text("\n".join([f"_src_path: {old_source}", *kept]) + "\n")
    git("commit", "--quiet", "--no-verify", "--all", "-m", "as made before", cwd=project)

    refused = mlopsctl("update", "--to", "0.2.0", "--from", "9.9.9", cwd=project, env=versions)
    assert refused.returncode == 2 and "v0.1.0" in refused.stderr

    done = mlopsctl("update", "--to", "0.2.0", "--from", "0.1.0", cwd=project, env=versions)
    assert done.returncode == 0, done.stderr
    assert (project / NEW_FILE).is_file()
    assert "_commit: v0.2.0-0-g" in answers.read_text()


def test_real_copier_update_works_on_a_fresh_project(tmp_path: Path) -> None:
    """Users who prefer copier itself: `copier update --defaults` on a project from `init`
    (the template history of this checkout) exits 0 and keeps the mlopsctl pin."""
    mlopsctl("init", "fresh", "--no-input", "--no-hooks", cwd=tmp_path, check=True)
    project = tmp_path / "fresh"
    pin = (project / "requirements.txt").read_text().splitlines()[-1]
    done = run([sys.executable, "-m", "copier", "update", "--defaults"], project)
    assert done.returncode == 0, done.stderr
    assert (project / "requirements.txt").read_text().splitlines()[-1] == pin
    assert "mlopsctl_requirement" in (project / ".copier-answers.yml").read_text()
