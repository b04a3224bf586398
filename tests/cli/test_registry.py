"""`mlopsctl registry list/history/lineage`, also over tags written by the real gto CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_init import assert_one_line_error
from tests.cli.test_promote import gto, gto_stages, registry_list, tags
from tests.conftest import git, mlopsctl


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def test_list_history_and_lineage_of_a_promoted_model(trained_project: Path) -> None:
    assert mlopsctl("promote", "--to", "staging", cwd=trained_project).returncode == 0
    head = git("rev-parse", "HEAD", cwd=trained_project).stdout.strip()

    table = mlopsctl("registry", "list", cwd=trained_project).stdout
    assert "staging" in table and "production" in table
    row = next(line for line in table.splitlines() if "demo" in line)
    assert row.count("v0.0.1") == 2  # latest and staging

    proc = mlopsctl("registry", "history", "demo", cwd=trained_project)
    assert proc.returncode == 0
    assert "registration" in proc.stdout and "assignment" in proc.stdout
    assert "mlopsctl tests" in proc.stdout

    for ref in ("demo@v0.0.1", "demo#staging"):
        proc = mlopsctl("registry", "lineage", ref, "--json", cwd=trained_project)
        assert proc.returncode == 0, proc.stderr
        lineage = json.loads(proc.stdout)
        assert lineage["version"] == "v0.0.1" and lineage["commit"] == head
        assert set(lineage) >= {"data", "params", "params_sha256", "metrics", "model_sha256"}
    text = mlopsctl("registry", "lineage", "demo@v0.0.1", cwd=trained_project).stdout
    assert "data/raw/breast_cancer.csv" in text and head in text


def test_versions_registered_by_the_gto_cli_are_read_too(trained_project: Path) -> None:
    head = git("rev-parse", "HEAD", cwd=trained_project).stdout.strip()
    assert gto("register", "demo", "--version", "v1.0.0", cwd=trained_project).returncode == 0
    assert (
        gto(
            "assign", "demo", "--version", "v1.0.0", "--stage", "staging", cwd=trained_project
        ).returncode
        == 0
    )
    ours = registry_list(trained_project)["demo"]
    assert ours["latest"] == "v1.0.0"
    assert ours["stages"]["staging"] == gto_stages(trained_project)["demo"]["stage"]["staging"]

    proc = mlopsctl("registry", "lineage", "demo#staging", "--json", cwd=trained_project)
    assert proc.returncode == 0, proc.stderr
    lineage = json.loads(proc.stdout)
    assert lineage["commit"] == head and "no mlopsctl record" in lineage["source"]
    assert lineage["metrics"] == json.loads((trained_project / "metrics.json").read_text())
    assert lineage["model_sha256"]

    # and mlopsctl goes on from gto's tags: the next assignment is numbered after gto's
    proc = mlopsctl("promote", "--to", "production", cwd=trained_project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo#production#2" in tags(trained_project)
    assert gto_stages(trained_project)["demo"]["stage"]["production"] == "v1.0.0"


def test_unknown_names_are_bad_input(trained_project: Path) -> None:
    for args, words in [
        (["history", "nope"], "unknown model"),
        (["lineage", "nope@v1.0.0"], "unknown model"),
        (["lineage", "demo"], "NAME@vX.Y.Z"),
    ]:
        proc = mlopsctl("registry", *args, cwd=trained_project)
        assert_one_line_error(proc, 2)
        assert words in proc.stderr
    assert mlopsctl("promote", "--to", "staging", cwd=trained_project).returncode == 0
    for ref, words in [("demo@v9.9.9", "no version v9.9.9"), ("demo#production", "no version")]:
        proc = mlopsctl("registry", "lineage", ref, cwd=trained_project)
        assert_one_line_error(proc, 2)
        assert words in proc.stderr


def test_list_shows_declared_models_before_any_promotion(trained_project: Path) -> None:
    assert registry_list(trained_project) == {
        "demo": {
            "name": "demo",
            "latest": None,
            "stages": {"staging": None, "production": None},
            "declared": True,
        }
    }


def test_list_works_in_any_git_repository_with_registry_tags(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    git("init", "--quiet", str(repo), cwd=tmp_path)
    git("commit", "--quiet", "--allow-empty", "-m", "one", cwd=repo)
    gto("register", "churn", "--version", "v0.3.0", cwd=repo)
    gto("assign", "churn", "--version", "v0.3.0", "--stage", "prod", cwd=repo)
    git("tag", "churn@v9.0.0", cwd=repo)  # lightweight: GTO ignores it, so do we
    models = registry_list(repo)
    assert models["churn"]["latest"] == "v0.3.0"
    assert models["churn"]["stages"]["prod"] == "v0.3.0"
    assert gto_stages(repo)["churn"]["version"] == "v0.3.0"


def test_lineage_has_one_shape_whoever_registered_the_version(trained_project: Path) -> None:
    import hashlib

    from tests.conftest import commit_new_model

    assert mlopsctl("promote", "--to", "staging", cwd=trained_project).returncode == 0
    first = git("rev-parse", "HEAD", cwd=trained_project).stdout.strip()
    second = commit_new_model(trained_project, 3.0, "another model")
    assert gto("register", "demo", "--version", "v1.0.0", cwd=trained_project).returncode == 0

    def lineage(ref: str) -> dict:
        proc = mlopsctl("registry", "lineage", ref, "--json", cwd=trained_project)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    ours, theirs = lineage("demo@v0.0.1"), lineage("demo@v1.0.0")
    assert set(ours) == set(theirs)
    for record, commit in ((ours, first), (theirs, second)):
        assert isinstance(record["at"], str) and record["at"].endswith("Z")
        params = git("show", f"{commit}:params.yaml", cwd=trained_project).stdout.encode()
        # the value the image label io.mlopsctl.params.sha256 holds for that commit
        assert record["params_sha256"] == hashlib.sha256(params).hexdigest()
        assert record["model_sha256"] and record["deployed"] == []
    assert ours["mlopsctl_version"] and theirs["mlopsctl_version"] is None


def test_history_and_lineage_in_a_plain_git_repository_with_gto_tags(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    repo.mkdir()
    git("init", "--quiet", cwd=repo)
    (repo / "a.txt").write_text("a\n")
    git("add", "a.txt", cwd=repo)
    git("commit", "--quiet", "-m", "a", cwd=repo)
    for args in (("register", "demo"), ("assign", "demo", "--stage", "prod")):
        assert gto(*args, cwd=repo).returncode == 0
    assert gto("deprecate", "demo", "v0.0.1", cwd=repo).returncode == 0

    proc = mlopsctl("registry", "history", "demo", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    events = json.loads(proc.stdout)
    events = events["events"] if isinstance(events, dict) else events
    assignment = next(e for e in events if e["event"] == "assignment")
    assert assignment["version"] == "v0.0.1"  # as `gto history` shows it, not a commit sha

    # lineage reads DVC's records: a plain git repository is an environment error, not a bug
    (repo / "b.txt").write_text("b\n")
    git("add", "b.txt", cwd=repo)
    git("commit", "--quiet", "-m", "b", cwd=repo)
    assert gto("register", "demo", "--version", "v0.1.0", cwd=repo).returncode == 0
    assert_one_line_error(mlopsctl("registry", "lineage", "demo@v0.1.0", cwd=repo), 3)
