"""The built wheel carries the templates: `init` works from a plain (non-editable) install."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT, run


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_can_init(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO_ROOT),
        ],
        tmp_path,
        check=True,
    )
    (wheel,) = dist.glob("mlopsctl-*.whl")
    # a plain (non-editable) install of the wheel; the heavy dependencies come from this
    # environment, mlopsctl itself only from the wheel's files
    site = tmp_path / "site"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        tmp_path,
        check=True,
    )
    data_home = tmp_path / "data"
    env = dict(os.environ, PYTHONPATH=str(site), XDG_DATA_HOME=str(data_home))
    work = tmp_path / "work"
    work.mkdir()
    proc = run(
        [str(site / "bin/mlopsctl"), "init", "proj", "--no-input", "--no-hooks"], work, env=env
    )
    assert proc.returncode == 0, proc.stderr
    answers = yaml.safe_load((work / "proj/.copier-answers.yml").read_text())
    # the project names the template's history (a per-user copy of the wheel's bundle) and
    # the version it was made from, so `mlopsctl update` / `copier update` work offline
    history = data_home / "mlopsctl" / "template-history" / "tabular-classification.git"
    assert Path(answers["_src_path"]).expanduser() == history
    assert answers["_commit"].startswith("v0.1.0-0-g")
    source = (history / "mlopsctl-source").read_text()
    assert source.startswith(str(site / "mlopsctl" / "template_history")), source
    assert (work / "proj/dvc.yaml").is_file()
    update = run([str(site / "bin/mlopsctl"), "update", "--dry-run"], work / "proj", env=env)
    assert update.returncode == 0, update.stderr
    assert "Up to date" in update.stdout


@pytest.mark.slow
def test_a_clean_clone_builds_an_sdist_and_wheel_carrying_the_template_history(
    tmp_path: Path,
) -> None:
    """Offline (no build isolation), from a fresh clone: the sdist carries the bundle, the
    wheel built from that sdist (no git there) carries it too, and its commits are the ones
    an editable install builds from the same history."""
    import tarfile
    import zipfile

    from mlopsctl import __version__
    from mlopsctl.core import template_history as history

    clone = tmp_path / "clone"
    run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], tmp_path, check=True)
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(clone)]
    run(build, tmp_path, check=True)
    (sdist,) = dist.glob("mlopsctl-*.tar.gz")
    (wheel,) = dist.glob("mlopsctl-*.whl")
    with tarfile.open(sdist) as tar:
        assert any(
            n.endswith("template-history/tabular-classification.bundle") for n in tar.getnames()
        )
    bundle = tmp_path / "tabular-classification.bundle"
    with zipfile.ZipFile(wheel) as whl:
        bundle.write_bytes(whl.read("mlopsctl/template_history/tabular-classification.bundle"))

    heads = run(["git", "bundle", "list-heads", str(bundle)], tmp_path, check=True).stdout
    tags = {line.split()[1]: line.split()[0] for line in heads.splitlines()}
    assert f"refs/tags/v{__version__}" in tags
    # the same commits as a history built from the clone's git (what an editable install does)
    built = tmp_path / "built.git"
    run(["git", "init", "--quiet", "--bare", str(built)], tmp_path, check=True)
    (built / "objects" / "info" / "alternates").write_text(f"{clone / '.git' / 'objects'}\n")
    tip = history.build_history(clone, "tabular-classification", built, history._vcs_runner())
    assert tags["refs/heads/main"] == tip
