"""`mlopsctl promote` and `rollback` as a user meets them: gates, tags, and what other
registry readers (the real gto CLI, dvc.api.artifacts_show) make of the tags."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.test_init import assert_one_line_error
from tests.conftest import ctrl_c_reaches_it, git, mlopsctl, run, switch


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a user with a wide terminal sees them: one line per row."""
    monkeypatch.setenv("COLUMNS", "200")


def tags(project: Path) -> list[str]:
    return sorted(git("tag", "--list", cwd=project).stdout.split())


def tag_record(project: Path, tag: str) -> dict[str, Any]:
    """The JSON mlopsctl writes after the tag message's first line."""
    body = git("tag", "--list", "--format=%(contents)", tag, cwd=project).stdout
    return json.loads(body[body.index("\n{") :])


def tag_times(project: Path) -> list[int]:
    out = git("for-each-ref", "refs/tags", "--format=%(taggerdate:unix)", cwd=project).stdout
    return [int(t) for t in out.split()]


def gto(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("gto")
    return run([str(script) if script.exists() else shutil.which("gto") or "gto", *args], cwd)


def gto_stages(project: Path) -> dict[str, Any]:
    proc = gto("show", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def artifacts_show(project: Path, **kwargs: str) -> str:
    import dvc.api

    return str(dvc.api.artifacts_show("demo", repo=str(project), **kwargs)["rev"])


def registry_list(project: Path) -> dict[str, Any]:
    proc = mlopsctl("registry", "list", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    return {m["name"]: m for m in json.loads(proc.stdout)["models"]}


def promote(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return mlopsctl("promote", *args, cwd=project)


def set_promotion_rules(project: Path, **rules: list[str]) -> None:
    """Replace rules in the project's [tool.mlopsctl.promotion] and commit the change."""
    path = project / "pyproject.toml"
    lines = path.read_text().splitlines()
    for key, values in rules.items():
        lines = [line for line in lines if not line.startswith(f"{key} =")]
        lines.append(f"{key} = {json.dumps(values)}")
    path.write_text("\n".join(lines) + "\n")
    git("commit", "--quiet", "--all", "-m", f"promotion rules: {rules}", cwd=project)


def test_promote_to_staging_then_production(trained_project: Path) -> None:
    head = git("rev-parse", "HEAD", cwd=trained_project).stdout.strip()
    proc = promote(trained_project, "--to", "staging")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Promoted demo v0.0.1" in proc.stdout
    for gate in ("git tree clean", "pipeline up to date", "pushed to DVC remote", "f1"):
        assert gate in proc.stdout
    assert tags(trained_project) == ["demo#staging#1", "demo@v0.0.1"]
    # annotated tags on HEAD
    for tag in tags(trained_project):
        assert git("cat-file", "-t", tag, cwd=trained_project).stdout.strip() == "tag"
        assert git("rev-parse", f"{tag}^{{commit}}", cwd=trained_project).stdout.strip() == head

    lineage = tag_record(trained_project, "demo@v0.0.1")
    assert lineage["commit"] == head
    model = (trained_project / "models/model.pkl").read_bytes()
    assert lineage["model_sha256"] == hashlib.sha256(model).hexdigest()
    raw_md5 = yaml.safe_load((trained_project / "data/raw/breast_cancer.csv.dvc").read_text())[
        "outs"
    ][0]
    assert lineage["data"]["data/raw/breast_cancer.csv"] == raw_md5["md5"]
    assert lineage["metrics"] == json.loads((trained_project / "metrics.json").read_text())
    assert lineage["params"] == yaml.safe_load((trained_project / "params.yaml").read_text())
    assert lineage["by"] == "mlopsctl tests <tests@mlopsctl.invalid>"
    assert lineage["mlopsctl_version"] and lineage["params_sha256"]

    proc = promote(trained_project, "--to", "production")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "passed staging" in proc.stdout
    assert tags(trained_project) == ["demo#production#2", "demo#staging#1", "demo@v0.0.1"]
    times = tag_times(trained_project)
    assert len(set(times)) == 3, "two tags of one artifact share a second"

    ours = registry_list(trained_project)["demo"]
    assert ours["latest"] == "v0.0.1"
    assert ours["stages"] == {"staging": "v0.0.1", "production": "v0.0.1"}
    theirs = gto_stages(trained_project)["demo"]
    assert theirs["version"] == "v0.0.1"
    assert theirs["stage"] == ours["stages"]
    assert artifacts_show(trained_project, stage="production") == head
    assert artifacts_show(trained_project, version="v0.0.1") == head


def test_production_requires_staging_first(trained_project: Path) -> None:
    proc = promote(trained_project, "--to", "production")
    assert proc.returncode == 1
    assert "passed staging" in proc.stdout and "never in staging" in proc.stdout
    assert_one_line_error(proc, 1)
    assert tags(trained_project) == []


@pytest.mark.parametrize(
    ("breakage", "gate"),
    [
        ("dirty", "git tree clean"),
        ("stale lock", "pipeline up to date"),
        ("threshold", "f1"),
        ("detached", "on a branch"),
    ],
)
def test_a_failed_gate_blocks_and_writes_no_tag(
    trained_project: Path, breakage: str, gate: str
) -> None:
    if breakage == "dirty":
        with open(trained_project / "src/demo/train.py", "a") as fh:
            fh.write("# edited\n")
    elif breakage == "stale lock":
        with open(trained_project / "src/demo/train.py", "a") as fh:
            fh.write("# edited and committed without dvc repro\n")
        git("commit", "--quiet", "--all", "-m", "untrained change", cwd=trained_project)
    elif breakage == "threshold":
        set_promotion_rules(trained_project, thresholds=["f1 >= 0.999"])
    else:
        git("checkout", "--quiet", "--detach", cwd=trained_project)
    proc = promote(trained_project, "--to", "staging")
    assert_one_line_error(proc, 1)
    failed = [line for line in proc.stdout.splitlines() if "FAIL" in line]
    assert any(line.lstrip("│ ").startswith(gate) for line in failed), proc.stdout
    assert "no tag was written" in proc.stderr
    assert tags(trained_project) == []


def test_force_records_the_reason_and_the_failed_gates(trained_project: Path) -> None:
    set_promotion_rules(trained_project, thresholds=["f1 >= 0.999"])
    proc = promote(trained_project, "--to", "staging", "--force")
    assert_one_line_error(proc, 2)
    assert "--reason" in proc.stderr
    proc = promote(
        trained_project, "--to", "staging", "--force", "--reason", "hotfix for ticket 42"
    )
    assert proc.returncode == 0, proc.stderr
    assert "forced" in proc.stdout
    record = tag_record(trained_project, "demo#staging#1")
    assert record["forced"] is True
    assert record["reason"] == "hotfix for ticket 42"
    assert record["failed_gates"] == ["f1"]
    history = json.loads(
        mlopsctl("registry", "history", "demo", "--json", cwd=trained_project).stdout
    )
    assignment = history["events"][-1]
    assert assignment["forced"] and assignment["reason"] == "hotfix for ticket 42"


def test_champion_challenger_compares_with_the_real_stage_holder(two_models: Path) -> None:
    switch(two_models, "first")
    assert promote(two_models, "--to", "staging").returncode == 0
    champion_f1 = tag_record(two_models, "demo@v0.0.1")["metrics"]["f1"]
    switch(two_models, "main")
    challenger_f1 = json.loads((two_models / "metrics.json").read_text())["f1"]
    assert 0.9 <= challenger_f1 < champion_f1 - 0.005  # passes the threshold, not the champion

    proc = promote(two_models, "--to", "staging", "--dry-run")
    assert_one_line_error(proc, 1)
    row = next(line for line in proc.stdout.splitlines() if "f1 vs staging" in line)
    assert "FAIL" in row and f"v0.0.1: {champion_f1:.6g}" in row
    # no champion in production yet: the same model passes that comparison
    assert tags(two_models) == ["demo#staging#1", "demo@v0.0.1"]

    set_promotion_rules(two_models, champion=["f1 >= champion - 0.05"])
    proc = promote(two_models, "--to", "staging")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert registry_list(two_models)["demo"]["stages"]["staging"] == "v0.0.2"


def test_promote_an_existing_version_and_roll_back(two_models: Path) -> None:
    first = git("rev-parse", "first", cwd=two_models).stdout.strip()
    switch(two_models, "first")
    assert promote(two_models, "--to", "staging").returncode == 0
    assert promote(two_models, "--to", "production").returncode == 0
    switch(two_models, "main")
    proc = promote(two_models, "--to", "staging", "--force", "--reason", "try it")
    assert proc.returncode == 0, proc.stderr
    # v0.0.2 is not HEAD's parent's business: promote it by version, from anywhere
    git("commit", "--quiet", "--allow-empty", "-m", "later work", cwd=two_models)
    proc = promote(
        two_models, "--version", "v0.0.2", "--to", "production", "--force", "--reason", "canary"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert registry_list(two_models)["demo"]["stages"]["production"] == "v0.0.2"

    proc = mlopsctl(
        "rollback", "demo", "--stage", "production", "--reason", "bad canary", cwd=two_models
    )
    assert proc.returncode == 0, proc.stderr
    assert "v0.0.2 -> v0.0.1" in proc.stdout
    assert registry_list(two_models)["demo"]["stages"] == {
        "staging": "v0.0.2",
        "production": "v0.0.1",
    }
    assert gto_stages(two_models)["demo"]["stage"]["production"] == "v0.0.1"
    assert artifacts_show(two_models, stage="production") == first
    events = json.loads(mlopsctl("registry", "history", "demo", "--json", cwd=two_models).stdout)
    kinds = [(e["event"], e["version"], e["stage"]) for e in events["events"]]
    assert kinds[-1] == ("rollback", "v0.0.1", "production")
    assert ("assignment", "v0.0.2", "production") in kinds  # history is kept
    assert events["events"][-1]["reason"] == "bad canary"
    # v0.0.1 was the first ever in production: nothing earlier to put back
    before = tags(two_models)
    proc = mlopsctl("rollback", "demo", "--stage", "production", cwd=two_models)
    assert_one_line_error(proc, 2)
    assert tags(two_models) == before


def test_push_lands_both_tags_in_the_bare_remote(trained_project: Path, tmp_path: Path) -> None:
    proc = promote(trained_project, "--to", "staging", "--push")
    assert_one_line_error(proc, 3)
    assert "git remote" in proc.stderr
    assert tags(trained_project) == []

    # a remote that refuses the push: the local tags are taken back too
    git("remote", "add", "origin", str(tmp_path / "missing.git"), cwd=trained_project)
    proc = promote(trained_project, "--to", "staging", "--push")
    assert_one_line_error(proc, 3)
    assert "not kept" in proc.stderr
    assert tags(trained_project) == []

    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    git("remote", "set-url", "origin", str(bare), cwd=trained_project)
    proc = promote(trained_project, "--to", "staging", "--push")
    assert proc.returncode == 0, proc.stderr
    assert "pushed to origin" in proc.stdout
    remote_tags = git("ls-remote", "--tags", str(bare), cwd=tmp_path).stdout
    assert "refs/tags/demo@v0.0.1" in remote_tags and "refs/tags/demo#staging#1" in remote_tags


def test_bad_input_leaves_the_tags_unchanged(trained_project: Path, tmp_path: Path) -> None:
    cases = [
        (["--to", "qa"], 2, "unknown stage"),
        (["nope", "--to", "staging"], 2, "unknown model"),
        (["--to", "staging", "--version", "1.0"], 2, "invalid version"),
        (["--to", "staging", "--bump", "huge"], 2, "invalid --bump"),
        (["--to", "staging", "--version", "v1.0.0", "--bump", "minor"], 2, "not both"),
    ]
    for args, code, words in cases:
        proc = promote(trained_project, *args)
        assert_one_line_error(proc, code)
        assert words in proc.stderr, (args, proc.stderr)
        assert tags(trained_project) == []

    # a tag name clash: someone made a lightweight tag with the registry's next name
    git("tag", "demo@v0.0.1", cwd=trained_project)
    proc = promote(trained_project, "--to", "staging")
    assert_one_line_error(proc, 2)
    assert "already exists" in proc.stderr
    assert tags(trained_project) == ["demo@v0.0.1"]
    git("tag", "--delete", "demo@v0.0.1", cwd=trained_project)

    assert promote(trained_project, "--to", "staging", "--version", "v1.0.0").returncode == 0
    before = tags(trained_project)
    for args, words in [
        (["--to", "staging"], "already in staging"),
        (["--to", "production", "--version", "v2.0.0"], "already registered as demo v1.0.0"),
    ]:
        proc = promote(trained_project, *args)
        assert_one_line_error(proc, 2)
        assert words in proc.stderr
        assert tags(trained_project) == before

    empty = tmp_path / "empty"
    git("init", "--quiet", str(empty), cwd=tmp_path)
    shutil.copytree(trained_project / "conf", empty / "conf")
    shutil.copy(trained_project / "dvc.yaml", empty / "dvc.yaml")
    proc = promote(empty, "--to", "staging")
    assert_one_line_error(proc, 2)
    assert "no commits" in proc.stderr


def test_missing_git_identity_is_an_environment_error(
    trained_project: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    env.pop("EMAIL", None)
    proc = mlopsctl("promote", "--to", "staging", cwd=trained_project, env=env)
    assert_one_line_error(proc, 3)
    assert "git config" in proc.stderr
    assert tags(trained_project) == []


def slow_git(folder: Path, marks: Path) -> dict[str, str]:
    """An environment whose `git` is the real git behind a shim that, for `mktag` and
    `update-ref`, leaves a mark and waits 2 s first: a moment to interrupt at, every time."""
    real = shutil.which("git")
    assert real is not None
    shim = folder / "git"
    shim.write_text(
        "#!/bin/sh\n"
        'for arg in "$@"; do case "$arg" in mktag|update-ref)'
        f' touch "{marks}/$arg"; sleep 2;; esac; done\n'
        f'exec "{real}" "$@"\n'
    )
    shim.chmod(0o755)
    marks.mkdir()
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("moment", "expected_tags", "expected_code"),
    [
        # Ctrl-C while the tag objects are made: nothing is written, exit 130
        ("mktag", [], 130),
        # Ctrl-C during the ref transaction: it completes (both tags), and promote finishes
        ("update-ref", ["demo#staging#1", "demo@v0.0.1"], 0),
    ],
)
def test_ctrl_c_leaves_both_tags_or_none(
    trained_project: Path, tmp_path: Path, moment: str, expected_tags: list[str], expected_code: int
) -> None:
    """Interrupt promote at the two moments that matter: the registry never holds half a
    promotion."""
    marks = tmp_path / "marks"
    env = slow_git(tmp_path, marks)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlopsctl", "promote", "--to", "staging"],
        cwd=trained_project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=ctrl_c_reaches_it,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not (marks / moment).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"promote never reached {moment}"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert tags(trained_project) == expected_tags
    assert proc.returncode == expected_code, (proc.returncode, err)


def test_push_sends_every_tag_the_stage_needs_and_a_rerun_finishes_a_cut_push(
    trained_project: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "remote.git"
    git("init", "--quiet", "--bare", str(bare), cwd=tmp_path)
    git("remote", "add", "origin", str(bare), cwd=trained_project)

    def remote_tags() -> set[str]:
        listed = git("ls-remote", "--tags", str(bare), cwd=tmp_path).stdout.split()
        refs = [ref for ref in listed if ref.startswith("refs/") and not ref.endswith("^{}")]
        return {ref.removeprefix("refs/tags/") for ref in refs}

    # staging promoted locally, production pushed: the version tag goes along
    assert promote(trained_project, "--to", "staging").returncode == 0
    proc = promote(trained_project, "--to", "production", "--push")
    assert proc.returncode == 0, proc.stderr
    assert remote_tags() == {"demo@v0.0.1", "demo#production#2"}

    # the state a push killed midway leaves: tags here, not on the remote; the rerun pushes
    proc = promote(trained_project, "--to", "staging", "--push")
    assert proc.returncode == 0, proc.stderr
    assert "finished pushing" in proc.stdout
    assert remote_tags() == {"demo@v0.0.1", "demo#production#2", "demo#staging#1"}
    assert tags(trained_project) == sorted(remote_tags())
    # and once all is there, a rerun is "nothing to do" again
    assert_one_line_error(promote(trained_project, "--to", "staging", "--push"), 2)


@pytest.mark.slow
def test_a_trained_model_not_yet_committed_is_refused_with_the_step_to_take(
    project: Path,
) -> None:
    """init, train, promote: the first model's dvc.lock and metrics are still untracked, so
    the clean-tree gate says to commit them (not a metric gate saying 'missing')."""
    assert mlopsctl("train", cwd=project).returncode == 0
    proc = promote(project, "--to", "staging")
    assert proc.returncode == 1
    assert "dvc.lock (untracked)" in proc.stdout and "commit them" in proc.stdout
    assert tags(project) == []
