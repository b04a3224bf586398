"""Fault injection: mlopsctl killed with SIGKILL at several points of init, train, data add,
promote and retrain (real processes, their own session), then the plain rerun succeeds with
no manual cleanup: no half-made tag, `git fsck` and `dvc status` clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import dvc, git, mlopsctl

pytestmark = pytest.mark.slow

PAUSE = (
    'import os, time; open("stage.pid", "w").write(str(os.getpid())); '
    'time.sleep(float(os.environ.get("MLOPSCTL_TEST_PAUSE", "0")))\n'
)


def start(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """mlopsctl as a user starts it, in a session of its own (so its group can be killed)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )


def wait_for(done: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 300
    while not done():
        assert proc.poll() is None, f"mlopsctl ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def kill(proc: subprocess.Popen[str], group: bool) -> None:
    if group:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()
    proc.wait()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie nobody reaps is gone too
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[-1].startswith("Z")


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 60
    while not gone(pid):
        assert time.monotonic() < deadline, f"process {pid} outlived the killed mlopsctl"
        time.sleep(0.1)


def assert_sound(project: Path, *dvc_targets: str) -> None:
    """git fsck clean, every tag an annotated tag of a commit, DVC agrees with dvc.lock (or,
    for a project whose pipeline never ran, with the `dvc_targets` pointers)."""
    assert git("fsck", "--no-progress", cwd=project).returncode == 0
    for name in git("tag", "--list", cwd=project).stdout.split():
        kind = git("cat-file", "-t", name, cwd=project).stdout.strip()
        assert kind == "tag", f"{name} is a {kind}"
        git("rev-parse", "--verify", f"{name}^{{commit}}", cwd=project)
    status = dvc("status", *dvc_targets, cwd=project).stdout
    assert "up to date" in status, status


def pausing_train(project: Path, commit: bool = False) -> None:
    """The train stage waits MLOPSCTL_TEST_PAUSE seconds after writing stage.pid."""
    script = next((project / "src").glob("*/train.py"))
    script.write_text(PAUSE + script.read_text())
    (project / ".gitignore").write_text((project / ".gitignore").read_text() + "stage.pid\n")
    if commit:
        git("commit", "--quiet", "--all", "-m", "a train stage that can pause", cwd=project)


def test_train_killed_mid_stage_takes_its_stage_along(trained_project: Path) -> None:
    p = trained_project
    pausing_train(p)
    proc = start("train", cwd=p, env={"MLOPSCTL_TEST_PAUSE": "600"})
    wait_for((p / "stage.pid").exists, proc, "the train stage to start")
    time.sleep(0.2)  # the pid is written
    stage = int((p / "stage.pid").read_text())
    kill(proc, group=False)  # mlopsctl alone: its stage group must die with it
    wait_gone(stage)

    (p / "stage.pid").unlink()
    rerun = mlopsctl("train", cwd=p)
    assert rerun.returncode == 0, rerun.stderr
    assert_sound(p)


def test_a_killed_sweep_takes_its_experiments_along(trained_project: Path) -> None:
    """`train --queue` runs each experiment in a temporary copy (`dvc exp run --temp`),
    tethered as `train` is: a killed mlopsctl leaves no experiment running unlocked."""
    p = trained_project
    pausing_train(p, commit=True)
    proc = start("train", "--queue", "model.C=0.5,2.0", cwd=p, env={"MLOPSCTL_TEST_PAUSE": "600"})
    pids = lambda: list(p.glob(".dvc/tmp/exps/**/stage.pid"))  # noqa: E731
    wait_for(lambda: bool(pids()) and bool(pids()[0].read_text()), proc, "an experiment's stage")
    stage = int(pids()[0].read_text())
    kill(proc, group=False)  # mlopsctl alone
    wait_gone(stage)

    rerun = mlopsctl("train", "--no-exp", cwd=p)  # the project lock went with it
    assert rerun.returncode == 0, rerun.stderr
    assert_sound(p)


def test_a_torn_or_empty_dvc_lock_is_restored_from_git(trained_project: Path) -> None:
    p = trained_project
    committed = (p / "dvc.lock").read_text()
    for torn, args in (("", ["train"]), (committed[: len(committed) // 2], ["train", "--no-exp"])):
        (p / "dvc.lock").write_text(torn)  # what a kill while DVC writes the lock leaves
        proc = mlopsctl(*args, cwd=p)
        assert proc.returncode == 0, proc.stderr
        assert "dvc.lock was empty or torn" in proc.stderr
        assert (p / "dvc.lock").read_text() == committed
        assert_sound(p)


def test_data_add_killed_then_rerun(trained_project: Path) -> None:
    p = trained_project
    big = p / "data" / "big.csv"
    big.write_text("a,b\n" + "".join(f"{i},{i * 7}\n" for i in range(2_000_000)))
    proc = start("data", "add", "data/big.csv", cwd=p)
    wait_for(lambda: (p / ".dvc" / "tmp").exists(), proc, "DVC to start")
    time.sleep(1.0)
    kill(proc, group=True)

    partial = p / "data" / ".AAAAAAAAAAAAAAAAAAAAAA.tmp"  # as a kill mid-copy leaves one
    partial.write_text("a,b\n1,")
    rerun = mlopsctl("data", "add", "data/big.csv", cwd=p)
    assert rerun.returncode == 0, rerun.stderr
    assert not partial.exists()
    assert not list((p / ".dvc" / "cache").rglob("*.tmp"))
    assert (p / "data" / "big.csv.dvc").is_file()
    assert "data/big.csv.dvc" in git("diff", "--cached", "--name-only", cwd=p).stdout
    assert_sound(p)


def test_promote_push_killed_mid_push_is_finished_by_the_rerun(
    trained_project: Path, tmp_path: Path
) -> None:
    p = trained_project
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    hook = bare / "hooks" / "pre-receive"
    marker = tmp_path / "pushing"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 600\n")
    hook.chmod(0o755)
    git("remote", "add", "origin", str(bare), cwd=p)

    proc = start("promote", "--to", "staging", "--push", cwd=p)
    wait_for(marker.exists, proc, "the push to reach the remote")
    kill(proc, group=True)
    assert git("ls-remote", "--tags", str(bare), cwd=tmp_path).stdout == ""
    hook.unlink()

    rerun = mlopsctl("promote", "--to", "staging", "--push", cwd=p)
    assert rerun.returncode == 0, rerun.stderr
    remote = git("ls-remote", "--tags", str(bare), cwd=tmp_path).stdout
    assert "refs/tags/demo@v0.0.1" in remote and "refs/tags/demo#staging#1" in remote
    assert_sound(p)


def new_data(project: Path, tmp_path: Path) -> Path:
    """The raw data with its rows in another order: new bytes, same schema."""
    lines = (project / "data/raw/breast_cancer.csv").read_text().splitlines(keepends=True)
    out = tmp_path / "landing.csv"
    out.write_text(lines[0] + "".join(reversed(lines[1:])))
    return out


def stage_holder(project: Path, stage: str) -> str | None:
    listing = mlopsctl("registry", "list", "--json", cwd=project)
    assert listing.returncode == 0, listing.stderr
    held = [m["stages"].get(stage) for m in json.loads(listing.stdout)["models"]]
    return next((str(h) for h in held if h), None)


def test_retrain_killed_during_train_is_undone_and_redone(
    trained_project: Path, tmp_path: Path
) -> None:
    p = trained_project
    pausing_train(p, commit=True)
    head = git("rev-parse", "HEAD", cwd=p).stdout.strip()
    data = new_data(p, tmp_path)
    proc = start("retrain", "--data", str(data), cwd=p, env={"MLOPSCTL_TEST_PAUSE": "600"})
    wait_for((p / "stage.pid").exists, proc, "retrain's train stage")
    time.sleep(0.2)
    stage = int((p / "stage.pid").read_text())
    kill(proc, group=False)
    wait_gone(stage)

    rerun = mlopsctl("retrain", "--data", str(data), cwd=p)
    assert rerun.returncode == 0, rerun.stderr
    assert "undid a killed retrain" in rerun.stderr
    assert git("rev-parse", "HEAD^", cwd=p).stdout.strip() == head
    assert git("status", "--porcelain", "--untracked-files=no", cwd=p).stdout == ""
    assert stage_holder(p, "staging") is not None
    assert_sound(p)


def test_retrain_killed_after_its_commit_promotes_on_the_rerun(
    trained_project: Path, tmp_path: Path
) -> None:
    p = trained_project
    data = new_data(p, tmp_path)
    marker = tmp_path / "committed"
    hook = p / ".git" / "hooks" / "post-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 600\n")
    hook.chmod(0o755)
    proc = start("retrain", "--data", str(data), cwd=p)
    wait_for(marker.exists, proc, "retrain's commit")
    kill(proc, group=True)
    hook.unlink()
    assert git("tag", "--list", cwd=p).stdout == ""  # killed before any tag

    rerun = mlopsctl("retrain", "--data", str(data), cwd=p)
    assert rerun.returncode == 0, rerun.stderr
    assert "promoting it" in rerun.stderr
    assert "already holds this data" not in rerun.stdout + rerun.stderr
    assert stage_holder(p, "staging") is not None
    assert git("status", "--porcelain", "--untracked-files=no", cwd=p).stdout == ""
    assert_sound(p)


def test_init_killed_leaves_nothing_the_rerun_trips_on(tmp_path: Path) -> None:
    remotes = Path(os.environ["XDG_DATA_HOME"]) / "mlopsctl" / "dvc-remotes"
    before = set(remotes.glob("killed-*")) if remotes.is_dir() else set()
    # a post-commit hook holds init after its commit and before it moves the project into
    # place: the data is pushed (the remote folder a kill used to orphan) and nothing is
    # where the user asked for it yet
    hooks, marker = tmp_path / "hooks", tmp_path / "committed"
    hooks.mkdir()
    (hooks / "post-commit").write_text(f"#!/bin/sh\ntouch {marker}\nsleep 600\n")
    (hooks / "post-commit").chmod(0o755)
    held = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.hooksPath"}
    proc = start(
        "init",
        "killed",
        "--no-input",
        "--no-hooks",
        cwd=tmp_path,
        env={**held, "GIT_CONFIG_VALUE_0": str(hooks)},
    )
    wait_for(marker.exists, proc, "init's commit")
    assert set(remotes.glob("killed-*")) - before  # its data is pushed
    kill(proc, group=True)
    assert not (tmp_path / "killed").exists()

    rerun = mlopsctl("init", "killed", "--no-input", "--no-hooks", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert list(tmp_path.glob(".killed.mlopsctl-init-*")) == []
    made = set(remotes.glob("killed-*")) - before
    assert len(made) == 1  # the killed run's remote folder is gone, the rerun's is there
    assert git("status", "--porcelain", cwd=tmp_path / "killed").stdout == ""
    assert_sound(tmp_path / "killed", "data/raw/breast_cancer.csv.dvc")


def test_init_force_rerun_after_a_merge_cut_short(tmp_path: Path) -> None:
    """What an `init --force` killed mid-merge leaves (its marker, some of the template's
    files, half a .git): the rerun redoes the merge into one sound repository."""
    dest = tmp_path / "mine"
    (dest / ".git").mkdir(parents=True)
    (dest / ".git" / "HEAD").write_text("ref: refs/heads/main\n")  # half a repository
    (dest / "notes.txt").write_text("my own file\n")
    (dest / "dvc.yaml").write_text("stages: {}\n")
    (dest / ".mlopsctl-init-incomplete").touch()

    proc = mlopsctl("init", str(dest), "--force", "--no-input", "--no-hooks", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (dest / ".mlopsctl-init-incomplete").exists()
    assert (dest / "notes.txt").read_text() == "my own file\n"  # files not the template's stay
    assert git("rev-list", "--count", "HEAD", cwd=dest).stdout.strip() == "1"
    assert_sound(dest, "data/raw/breast_cancer.csv.dvc")
