"""core.update: where an update starts and ends, on real projects from two template versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlopsctl.core.answers import UNKNOWN_REQUIREMENT
from mlopsctl.core.update import UpdateOptions, update_project
from mlopsctl.errors import BadInput
from tests.conftest import copy_project, git, mlopsctl
from tests.template_versions import NEW_FILE, TEMPLATE, history_env, make_history


@pytest.fixture(scope="module")
def made_v1(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("core-update")
    env = history_env(make_history(base / "history"), base / "data")
    mlopsctl("init", "demo", "--no-input", "--no-hooks", cwd=base, env=env, check=True)
    return base / "demo", env


@pytest.fixture
def before_history(
    made_v1: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A project as made before answers recorded the template: no _commit, no mlopsctl answer,
    the pin only in requirements.txt."""
    made, env = made_v1
    for name in ("MLOPSCTL_TEMPLATE_HISTORY", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, env[name])
    project = copy_project(made, tmp_path)
    answers = project / ".copier-answers.yml"
    answers.write_text(
        "".join(
            line
            for line in answers.read_text().splitlines(True)
            if not line.startswith(("_commit", "mlopsctl_requirement"))
        )
    )
    # the pin such a project has: its mlopsctl version (whatever this install could record)
    requirements = project / "requirements.txt"
    requirements.write_text(
        "".join(
            "mlopsctl==0.1.0\n"
            if line.startswith("mlopsctl") or line.strip() == UNKNOWN_REQUIREMENT
            else line
            for line in requirements.read_text().splitlines(True)
        )
    )
    git("commit", "--quiet", "--no-verify", "--all", "-m", "old answers", cwd=project)
    return project


def test_the_pinned_mlopsctl_version_tells_where_a_project_started(before_history: Path) -> None:
    result = update_project(UpdateOptions(before_history, to="0.2.0"))
    assert result.from_commit.startswith("v0.1.0-0-g")
    assert result.to_commit.startswith("v0.2.0-0-g")
    assert NEW_FILE in result.added and not result.conflicts
    assert NEW_FILE in git("diff", "--cached", "--name-only", cwd=before_history).stdout


def test_no_recorded_version_asks_for_from(before_history: Path) -> None:
    requirements = before_history / "requirements.txt"
    requirements.write_text(
        "".join(
            line
            for line in requirements.read_text().splitlines(True)
            if not line.startswith("mlopsctl")
        )
    )
    git("commit", "--quiet", "--no-verify", "--all", "-m", "no pin", cwd=before_history)
    with pytest.raises(BadInput) as refused:
        update_project(UpdateOptions(before_history, to="0.2.0"))
    assert "--from" in (refused.value.hint or "")
    done = update_project(UpdateOptions(before_history, to="0.2.0", from_version="0.1.0"))
    assert NEW_FILE in done.added


def test_an_unknown_version_is_bad_input_naming_the_known_ones(before_history: Path) -> None:
    with pytest.raises(BadInput) as refused:
        update_project(UpdateOptions(before_history, to="7.0.0"))
    assert "v0.1.0, v0.2.0" in (refused.value.hint or "")
    assert git("status", "--porcelain", cwd=before_history).stdout == ""


def test_a_later_commit_of_the_same_version_updates_a_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mlopsctl installed from git: a project made at one commit of version 0.1.0, then a
    newer commit of 0.1.0 changes the template, and its tag v0.1.0 moves on. No tag is
    behind the project's commit any more; the update still starts from it."""
    env = history_env(make_history(tmp_path / "history"), tmp_path / "data")
    for name in ("MLOPSCTL_TEMPLATE_HISTORY", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, env[name])
    mlopsctl("init", "demo", "--no-input", "--no-hooks", cwd=tmp_path, env=env, check=True)
    project = tmp_path / "demo"
    recorded = (project / ".copier-answers.yml").read_text()
    assert "_commit: v0.1.0-0-g" in recorded
    repo = tmp_path / "history" / TEMPLATE
    git("checkout", "--quiet", "-b", "later", "v0.1.0", cwd=repo)
    (repo / "project" / "LATER.md").write_text("a later commit of 0.1.0\n")
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", "a later commit of the template, still 0.1.0", cwd=repo)
    git("tag", "--force", "v0.1.0", cwd=repo)

    result = update_project(UpdateOptions(project, to="0.1.0"))
    assert len(result.from_commit) == 40  # its full hash: no tag describes it now
    assert result.to_commit.startswith("v0.1.0-0-g")
    assert result.added == ["LATER.md"] and not result.conflicts
