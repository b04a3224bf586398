"""The template history: one commit per template change, a tag per mlopsctl version, the same
hashes from the same source (so a wheel's bundle and a checkout agree)."""

from __future__ import annotations

from pathlib import Path

from mlopsctl.core import git as vcs
from mlopsctl.core import template_history as history
from tests.conftest import git


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "-m", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo).stdout.strip()


def _source(tmp_path: Path) -> dict[str, str]:
    repo = tmp_path / "mlopsctl"
    repo.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    version = "mlopsctl/__init__.py"
    shas = {
        "first": _commit(
            repo, {version: '__version__ = "0.1.0"\n', "templates/t/copier.yml": "a: 1\n"}, "first"
        ),
        "other": _commit(repo, {"README.md": "no template change\n"}, "readme"),
        "second": _commit(repo, {"templates/t/copier.yml": "a: 2\n"}, "second"),
        "bump": _commit(repo, {version: '__version__ = "0.2.0"\n'}, "bump"),
        "third": _commit(repo, {"templates/t/project/new.txt": "new\n"}, "third"),
    }
    return shas


def _build(source: Path, where: Path) -> Path:
    where.mkdir()
    vcs.git(where, "init", "--quiet", "--bare", ".")
    objects = (source / ".git" / "objects").resolve()
    (where / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    history.build_history(source, "t", where, history._vcs_runner())
    return where


def test_one_commit_per_template_change_and_a_tag_per_version(tmp_path: Path) -> None:
    shas = _source(tmp_path)
    built = _build(tmp_path / "mlopsctl", tmp_path / "h1")

    log = vcs.output(built, "log", "--format=%s|%b", "main").split("\n\n")
    subjects = [entry.split("|")[0].strip() for entry in log if entry.strip()]
    assert subjects == ["third", "second", "first"]
    assert vcs.output(built, "show", "v0.1.0:copier.yml") == "a: 2"
    assert vcs.output(built, "show", "v0.2.0:project/new.txt") == "new"
    assert shas["third"] in vcs.output(built, "log", "-1", "--format=%b", "v0.2.0")
    assert history.versions(built) == ["v0.1.0", "v0.2.0"]
    assert history.exact_commit(built, "v0.1.0") == (
        "v0.1.0-0-g" + vcs.output(built, "rev-parse", "--short=12", "v0.1.0")
    )


def test_the_same_source_gives_the_same_hashes(tmp_path: Path) -> None:
    _source(tmp_path)
    one = _build(tmp_path / "mlopsctl", tmp_path / "h1")
    two = _build(tmp_path / "mlopsctl", tmp_path / "h2")
    assert vcs.output(one, "rev-parse", "main") == vcs.output(two, "rev-parse", "main")


def test_portable_names_the_home_folder_with_a_tilde(tmp_path: Path) -> None:
    inside = Path.home() / ".local" / "share" / "mlopsctl" / "template-history" / "t.git"
    assert history.portable(inside) == "~/.local/share/mlopsctl/template-history/t.git"
    assert history.portable(Path("/srv/t.git")) == "/srv/t.git"
