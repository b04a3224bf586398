"""`mlopsctl data ...` as a user meets it, in a real generated project with a real DVC remote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from tests.cli.test_init import assert_one_line_error
from tests.conftest import dvc, git, mlopsctl

RAW = "data/raw/breast_cancer.csv"


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.integers(0, 5, rows),
            "c": rng.choice(["a", "b"], rows),
        }
    ).to_csv(path, index=False)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_add_status_push_and_pull_in_a_clone(project: Path, tmp_path: Path) -> None:
    write_csv(project / "data/extra/more.csv", 20_000)
    proc = mlopsctl("data", "add", "data/extra/more.csv", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "Tracking data/extra/more.csv" in proc.stdout
    staged = git("diff", "--cached", "--name-only", cwd=project).stdout.split()
    assert staged == ["data/extra/.gitignore", "data/extra/more.csv.dvc"]

    status = json.loads(mlopsctl("data", "status", "--json", cwd=project, check=True).stdout)
    assert status["not_in_remote"] == ["data/extra/more.csv"]
    assert status["uncommitted"] == {"added": ["data/extra/more.csv"]}
    assert status["clean"] is False

    pushed = json.loads(mlopsctl("data", "push", "--json", cwd=project, check=True).stdout)
    assert pushed["files"] == 1 and pushed["remote"] == "default"
    git("commit", "-qm", "more data", "--no-verify", cwd=project)
    status = json.loads(mlopsctl("data", "status", "--json", cwd=project, check=True).stdout)
    assert status["clean"] is True, status

    git("clone", "-q", str(project), "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    proc = mlopsctl("data", "pull", cwd=clone)
    assert proc.returncode == 0, proc.stderr
    assert "Pulled 2 files" in proc.stdout
    assert md5(clone / "data/extra/more.csv") == md5(project / "data/extra/more.csv")
    assert md5(clone / RAW) == md5(project / RAW)


def test_a_noop_re_add_changes_nothing(project: Path) -> None:
    proc = mlopsctl("data", "add", RAW, cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert git("status", "--porcelain", cwd=project).stdout == ""


def test_add_refuses_paths_outside_the_project_and_files_in_git(
    project: Path, tmp_path: Path
) -> None:
    write_csv(tmp_path / "outside.csv", 5)
    proc = mlopsctl("data", "add", str(tmp_path / "outside.csv"), cwd=project)
    assert_one_line_error(proc, 2)
    assert "outside the project" in proc.stderr

    write_csv(project / "data/ingit/a.csv", 5)
    git("add", "data/ingit/a.csv", cwd=project)
    proc = mlopsctl("data", "add", "data/ingit", cwd=project)
    assert_one_line_error(proc, 2)
    assert "tracked by git" in proc.stderr
    assert "git rm -r --cached data/ingit" in proc.stderr
    assert not (project / "data/ingit.dvc").exists()


def test_missing_or_unreachable_remotes_exit_3_and_leave_the_cache_alone(
    project: Path, tmp_path: Path
) -> None:
    proc = mlopsctl("data", "push", "--remote", "nope", cwd=project)
    assert_one_line_error(proc, 3)
    assert "no DVC remote named 'nope'" in proc.stderr

    git("clone", "-q", str(project), "clone", cwd=tmp_path)
    clone = tmp_path / "clone"
    dvc("remote", "add", "gone", str(tmp_path / "no-such-folder"), cwd=clone)
    proc = mlopsctl("data", "pull", "--remote", "gone", cwd=clone)
    assert_one_line_error(proc, 3)
    assert "does not exist" in proc.stderr
    # an empty remote: reachable, but it lacks the data
    (tmp_path / "empty").mkdir()
    dvc("remote", "add", "empty", str(tmp_path / "empty"), cwd=clone)
    proc = mlopsctl("data", "pull", "--remote", "empty", cwd=clone)
    assert_one_line_error(proc, 3)
    assert f"lacks {RAW}" in proc.stderr
    cache = clone / ".dvc/cache"
    assert not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]
    assert not (clone / RAW).exists()

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    dvc("remote", "add", "blocked", str(blocker / "remote"), cwd=project)
    proc = mlopsctl("data", "push", "--remote", "blocked", cwd=project)
    assert_one_line_error(proc, 3)
    assert "does not exist" in proc.stderr
    # a missing remote folder is not made on the fly (it may be an unmounted share)
    dvc("remote", "add", "unmounted", str(tmp_path / "share" / "store"), cwd=project)
    proc = mlopsctl("data", "push", "--remote", "unmounted", cwd=project)
    assert_one_line_error(proc, 3)
    assert not (tmp_path / "share").exists()


def test_the_fresh_projects_data_validates_and_bad_data_fails_with_a_table(project: Path) -> None:
    schema = project / "data/schemas/breast_cancer.yaml"
    assert git("ls-files", "data/schemas", cwd=project).stdout.split() == [
        "data/schemas/breast_cancer.yaml"
    ]
    proc = mlopsctl("data", "validate", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "valid data/raw/breast_cancer.csv" in proc.stdout

    frame = pd.read_csv(project / RAW)
    frame.loc[[3, 7], "mean_radius"] = -1.0
    frame.loc[5, "target"] = 9
    frame = frame.drop(columns=["worst_area"])
    frame.to_csv(project / "data/bad.csv", index=False)
    proc = mlopsctl("data", "validate", "data/bad.csv", "--schema", str(schema), cwd=project)
    assert_one_line_error(proc, 1)
    assert "3 failed checks" in proc.stderr
    for words in ("worst_area", "missing column", "mean_radius", "greater_than_or_equal_to"):
        assert words in proc.stdout, proc.stdout

    proc = mlopsctl(
        "data", "validate", "data/bad.csv", "--schema", str(schema), "--json", cwd=project
    )
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert result["valid"] is False
    failures = {f["column"]: f for f in result["datasets"][0]["failures"]}
    assert failures["mean_radius"]["count"] == 2 and failures["mean_radius"]["rows"] == [3, 7]
    assert failures["target"]["examples"] == [9]


def test_schema_writes_yaml_and_never_overwrites_without_force(project: Path) -> None:
    write_csv(project / "data/extra/more.csv", 200)
    proc = mlopsctl("data", "schema", "data/extra/more.csv", cwd=project)
    assert proc.returncode == 0, proc.stderr
    written = project / "data/schemas/more.yaml"
    assert "strict: true" in written.read_text() and "coerce: false" in written.read_text()
    written.write_text(written.read_text() + "# my edit\n")
    proc = mlopsctl("data", "schema", "data/extra/more.csv", cwd=project)
    assert_one_line_error(proc, 2)
    assert written.read_text().endswith("# my edit\n")
    assert mlopsctl("data", "schema", "data/extra/more.csv", "--force", cwd=project).returncode == 0
    assert mlopsctl("data", "validate", "data/extra/more.csv", cwd=project).returncode == 0


def test_profile_shows_a_table_and_saves_json(project: Path) -> None:
    proc = mlopsctl("data", "profile", RAW, "-o", "out/profile.json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "mean_radius" in proc.stdout and "569 rows" in proc.stdout
    saved = json.loads((project / "out/profile.json").read_text())
    assert saved["rows"] == 569 and saved["columns"]["target"]["kind"] == "numeric"
    printed = json.loads(mlopsctl("data", "profile", RAW, "--json", cwd=project).stdout)
    assert printed["columns"].keys() == saved["columns"].keys()


def test_a_corrupt_file_exits_2_naming_the_file(project: Path) -> None:
    (project / "data/broken.parquet").write_bytes(b"PAR1 truncated")
    for command in ("profile", "schema"):
        proc = mlopsctl("data", command, "data/broken.parquet", cwd=project)
        assert_one_line_error(proc, 2)
        assert "data/broken.parquet" in proc.stderr
