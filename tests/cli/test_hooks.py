"""The pre-commit hooks, run by the real `pre-commit` through real `git commit` / `git push`
in a generated project: each refuses what it guards against, and passes once it is fixed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO_ROOT, dvc, git, mlopsctl, run

RAW = "data/raw/breast_cancer.csv"


def commit(project: Path, message: str = "change") -> subprocess.CompletedProcess[str]:
    return git("commit", "-m", message, cwd=project, check=False)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def test_mlopsctls_hook_manifest_matches_the_templates_local_hooks() -> None:
    proc = run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
        REPO_ROOT,
    )
    assert proc.returncode == 0, output(proc)
    manifest = {
        h["id"]: h for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    }
    assert manifest["pipeline-fresh"]["stages"] == ["pre-push"]
    template = REPO_ROOT / "templates/tabular-classification/project/.pre-commit-config.yaml"
    local = {h["id"]: h for h in yaml.safe_load(template.read_text())["repos"][0]["hooks"]}
    for hook_id, hook in manifest.items():
        assert hook["entry"] == f"mlopsctl check {hook_id}"
        assert local[hook_id]["entry"] == f"python -m mlopsctl check {hook_id}"
        assert local[hook_id].get("files") == hook.get("files")


@pytest.mark.slow
def test_a_large_untracked_csv_is_refused_until_dvc_tracks_it(project: Path) -> None:
    big = project / "data/big.csv"
    big.write_text("a,b\n" + "123456,654321\n" * 75_000)  # ~1 MB
    git("add", "data/big.csv", cwd=project)
    proc = commit(project)
    assert proc.returncode != 0
    assert "data/big.csv (1.0 MB) is a data or model file, not tracked by DVC" in output(proc)
    assert "mlopsctl data add data/big.csv" in output(proc)

    git("rm", "-q", "--cached", "data/big.csv", cwd=project)
    mlopsctl("data", "add", "data/big.csv", cwd=project, check=True)
    proc = commit(project)
    assert proc.returncode == 0, output(proc)
    assert "data/big.csv.dvc" in git("ls-files", cwd=project).stdout


@pytest.mark.slow
def test_a_broken_config_or_a_stale_params_yaml_is_refused(project: Path) -> None:
    model = project / "conf/model/random_forest.yaml"
    original = model.read_text()
    model.write_text(original + "min_weight_fraction_leaf: ${no_such_key}\n")
    git("add", "conf", cwd=project)
    proc = commit(project)
    assert proc.returncode != 0
    assert "model=random_forest does not compose" in output(proc)

    model.write_text(original)
    config = project / "conf/config.yaml"
    config.write_text(config.read_text().replace("seed: 42", "seed: 7"))
    git("add", "conf", cwd=project)
    proc = commit(project)
    assert proc.returncode != 0
    assert "params.yaml differs from the composed default config" in output(proc)
    assert "--fix" in output(proc)

    mlopsctl("check", "config-composes", "--fix", cwd=project)
    assert yaml.safe_load((project / "params.yaml").read_text())["seed"] == 7
    git("add", "params.yaml", cwd=project)
    proc = commit(project)
    assert proc.returncode == 0, output(proc)


def test_fix_never_discards_params_an_experiment_applied(project: Path) -> None:
    """`dvc exp apply` (or a hand edit) changed params.yaml and conf/ does not compose to
    it: the hook's --fix keeps it and says how to keep or discard it."""
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("seed: 42", "seed: 3"))
    proc = mlopsctl("check", "config-composes", "--fix", cwd=project)
    assert proc.returncode == 1
    assert yaml.safe_load(params.read_text())["seed"] == 3
    assert "mlopsctl exp apply NAME" in output(proc) and "git checkout params.yaml" in output(proc)


@pytest.mark.slow
def test_a_stale_dvc_lock_blocks_the_push(project: Path, tmp_path: Path) -> None:
    git("init", "-q", "--bare", str(tmp_path / "origin.git"), cwd=tmp_path)
    git("remote", "add", "origin", str(tmp_path / "origin.git"), cwd=project)
    dvc("repro", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-qm", "baseline", cwd=project)
    assert git("push", "-q", "origin", "HEAD", cwd=project, check=False).returncode == 0

    train = project / "src/demo/train.py"
    train.write_text(train.read_text() + "\n# a change the lock has not seen\n")
    git("commit", "-qam", "change the training code", cwd=project)
    proc = git("push", "origin", "HEAD", cwd=project, check=False)
    assert proc.returncode != 0
    # the stages depend on the whole package: editing train.py makes them stale
    assert "stage train" in output(proc) and "src/demo modified" in output(proc)
    assert "dvc repro" in output(proc)

    dvc("repro", cwd=project)
    git("commit", "-qam", "reproduce", cwd=project)
    proc = git("push", "origin", "HEAD", cwd=project, check=False)
    assert proc.returncode == 0, output(proc)


@pytest.mark.slow
def test_data_that_breaks_its_schema_is_refused_and_stops_the_pipeline(project: Path) -> None:
    raw = project / RAW
    original = raw.read_bytes()
    frame = pd.read_csv(raw)
    frame.loc[[10, 11], "mean_radius"] = -3.0
    frame.loc[12, "target"] = 5
    frame.to_csv(raw, index=False)
    mlopsctl("data", "add", RAW, cwd=project, check=True)
    proc = commit(project)
    assert proc.returncode != 0
    assert "mean_radius: greater_than_or_equal_to(0.0)" in output(proc)
    assert "target: isin(" in output(proc)  # a class the data never had

    proc = dvc("repro", cwd=project, check=False)
    assert proc.returncode != 0
    assert "Running stage 'validate'" in proc.stdout
    assert "Running stage 'prepare'" not in proc.stdout
    assert "does not match data/schemas/breast_cancer.yaml" in proc.stderr

    raw.write_bytes(original)
    mlopsctl("data", "add", RAW, cwd=project, check=True)
    (project / "notes.md").write_text("the data is fixed\n")
    git("add", "notes.md", cwd=project)
    proc = commit(project)
    assert proc.returncode == 0, output(proc)


def _hook_repo_env() -> dict[str, str]:
    """pre-commit builds the hook repository's environment from this checkout, offline: no
    dependencies fetched (they come from this interpreter's site-packages on PYTHONPATH)."""
    import os
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    env = dict(os.environ)
    env.update(
        PIP_NO_DEPS="1",
        PIP_NO_INDEX="1",
        PIP_NO_BUILD_ISOLATION="0",  # pip reads "0" here as: no build isolation
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), site]),
    )
    return env


def _use_mlopsctl_hooks(repo: Path) -> None:
    rev = git("rev-parse", "HEAD", cwd=REPO_ROOT).stdout.strip()
    hooks = [{"id": h} for h in ("no-untracked-data", "config-composes", "data-valid")]
    config = {
        "repos": [{"repo": str(REPO_ROOT), "rev": rev, "hooks": [*hooks, {"id": "pipeline-fresh"}]}]
    }
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pre_commit", "run", *args], repo, env=_hook_repo_env())


@pytest.mark.slow
def test_the_hook_repository_works_in_a_plain_git_and_a_dvc_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    git("init", "--quiet", cwd=plain)
    _use_mlopsctl_hooks(plain)
    (plain / "notes.md").write_text("notes\n")
    (plain / "table.csv").write_text("a,b\n1,2\n")
    git("add", "-A", cwd=plain)

    proc = pre_commit(plain, "--all-files")
    assert proc.returncode == 1, output(proc)
    assert "table.csv (0 KB) is a data or model file, not tracked by DVC" in output(proc)
    assert "dvc add table.csv" in output(proc)
    assert "mlopsctl" not in output(proc).replace(str(REPO_ROOT), "")  # not on the user's PATH
    assert "not inside an mlopsctl project" not in output(proc)

    git("rm", "--quiet", "--cached", "table.csv", cwd=plain)
    (plain / "table.csv").unlink()
    assert pre_commit(plain, "--all-files").returncode == 0
    proc = pre_commit(plain, "--all-files", "--hook-stage", "pre-push")
    assert proc.returncode == 0, output(proc)
    assert "no pipeline to check" in output(proc) or "Passed" in output(proc)

    # a DVC repository with a pipeline (no Hydra config, no schemas): a stale lock blocks
    tracked = tmp_path / "tracked"
    tracked.mkdir()
    git("init", "--quiet", cwd=tracked)
    dvc("init", "--quiet", cwd=tracked)
    (tracked / "a.txt").write_text("one\n")
    (tracked / "dvc.yaml").write_text(
        "stages:\n  copy:\n    cmd: cp a.txt b.txt\n    deps: [a.txt]\n    outs: [b.txt]\n"
    )
    dvc("repro", "--quiet", cwd=tracked)
    _use_mlopsctl_hooks(tracked)
    git("add", "-A", cwd=tracked)
    assert pre_commit(tracked, "--all-files").returncode == 0
    assert pre_commit(tracked, "--all-files", "--hook-stage", "pre-push").returncode == 0
    (tracked / "a.txt").write_text("two\n")
    proc = pre_commit(tracked, "--all-files", "--hook-stage", "pre-push")
    assert proc.returncode == 1, output(proc)
    assert "stage copy" in output(proc) and "dvc repro" in output(proc)
