"""A generated project as a teammate or a CI runner first sees it: a `git clone` plus
`dvc pull` is up to date, and the generated CI workflow's steps pass in it, in order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import dvc, git, mlopsctl


def clone(project: Path, dest: Path) -> Path:
    git("clone", "--quiet", str(project), str(dest), cwd=project.parent)
    return dest


@pytest.mark.slow
def test_a_fresh_clone_is_up_to_date_after_dvc_pull(trained_template: Path, tmp_path: Path) -> None:
    copy = clone(trained_template, tmp_path / "clone")
    dvc("pull", "--quiet", cwd=copy)
    # every pipeline output is in git or in DVC: nothing is missing from the clone
    assert (copy / "reports" / "validation.json").is_file()
    assert "up to date" in dvc("status", cwd=copy).stdout
    fresh = mlopsctl("check", "pipeline-fresh", cwd=copy)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    # a README-only commit is not blocked by the pre-push hook, and the gates pass
    (copy / "README.md").write_text((copy / "README.md").read_text() + "\nA note.\n")
    git("commit", "--quiet", "-am", "README: a note", cwd=copy)
    assert mlopsctl("check", "pipeline-fresh", cwd=copy).returncode == 0
    gates = mlopsctl("promote", "--to", "staging", "--dry-run", cwd=copy)
    assert gates.returncode == 0, gates.stdout + gates.stderr
    assert "up to date" in gates.stdout


def workflow_steps(project: Path, job: str) -> list[dict]:
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yaml").read_text())
    return workflow["jobs"][job]["steps"]


def run_steps(
    project: Path, steps: list[dict], tmp_path: Path, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    """The workflow's shell steps, in order, as a runner runs them (bash -eo pipefail, CI=true,
    GITHUB_OUTPUT), with `if: steps.ID.outputs.KEY ==/!= 'VALUE'` conditions; `uses:` steps
    and the Install step (pip, from the network) are left out: this environment has the
    requirements. Returns each run step's name -> "ran" or "skipped"."""
    env = {**os.environ, "CI": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    env.update(extra_env or {})
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    outputs: dict[str, dict[str, str]] = {}
    seen: dict[str, str] = {}
    for step in steps:
        if "run" not in step or step["name"] == "Install":
            continue
        condition = step.get("if", "")
        if condition.startswith("steps."):
            ref, op, value = condition.split(" ", 2)
            _, sid, _, key = ref.split(".")
            actual = outputs.get(sid, {}).get(key, "")
            wanted = value.strip("'")
            if (actual == wanted) != (op == "=="):
                seen[step["name"]] = "skipped"
                continue
        out_file = tmp_path / f"output-{len(seen)}"
        out_file.write_text("")
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=project,
            env={**env, "GITHUB_OUTPUT": str(out_file)},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, f"step {step['name']!r}:\n{proc.stdout}\n{proc.stderr}"
        seen[step["name"]] = "ran"
        seen[step["name"] + ":out"] = proc.stdout + proc.stderr
        if "id" in step:
            lines = out_file.read_text().splitlines()
            outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
    return seen


@pytest.mark.slow
def test_the_ci_workflow_skips_the_data_steps_without_a_shared_remote(
    trained_template: Path, tmp_path: Path
) -> None:
    """On a runner the default local remote does not exist: the data steps are skipped with
    a notice saying how to set a shared one, and every other step passes."""
    copy = clone(trained_template, tmp_path / "clone")
    remote = dvc("config", "core.remote", cwd=copy).stdout.strip()
    dvc("remote", "modify", "--local", remote, "url", str(tmp_path / "not-on-runner"), cwd=copy)
    seen = run_steps(copy, workflow_steps(copy, "pipeline"), tmp_path)
    assert "mlopsctl init --remote URL" in seen["DVC remote:out"]
    assert "dvc remote add -d" in seen["DVC remote:out"]
    for name in ("Pull data", "Tests", "Pipeline", "Metrics"):
        assert seen[name] == "skipped"
    assert seen["Hooks"] == seen["Tests that need no data"] == seen["mlopsctl"] == "ran"


@pytest.mark.slow
def test_the_ci_workflow_passes_in_a_clone_with_a_reachable_remote(
    trained_template: Path, tmp_path: Path
) -> None:
    copy = clone(trained_template, tmp_path / "clone")
    seen = run_steps(copy, workflow_steps(copy, "pipeline"), tmp_path)
    for name in ("Hooks", "Pull data", "Tests", "Pipeline", "Metrics"):
        assert seen[name] == "ran", name
    assert seen["Tests that need no data"] == "skipped"
    assert "## " in (tmp_path / "summary.md").read_text()  # the report went to the summary


def test_the_retrain_job_is_off_unless_switched_on(template_project: Path, tmp_path: Path) -> None:
    workflow = yaml.safe_load((template_project / ".github" / "workflows" / "ci.yaml").read_text())
    retrain = workflow["jobs"]["retrain"]
    assert retrain["if"].startswith("vars.MLOPSCTL_RETRAIN == 'true' &&")
    # switched on, with nothing at LANDING_DATA yet: the job passes and retrains nothing
    steps = [
        s for s in retrain["steps"] if s.get("name", "").startswith(("Fetch", "Retrain", "Push"))
    ]
    env = {"LANDING_DATA": str(tmp_path / "landing" / "new.csv")}
    seen = run_steps(template_project, steps, tmp_path, env)
    assert (
        seen["Fetch the new data"] == "ran"
        and "nothing retrained" in seen["Fetch the new data:out"]
    )
    assert (
        seen["Retrain if the data drifted"]
        == seen["Push the commit and the registry tags"]
        == "skipped"
    )
