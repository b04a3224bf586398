"""`mlopsctl export ...` as a user runs it: exit codes, the problems listed, --json."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.cli.test_init import assert_one_line_error
from tests.conftest import dvc, mlopsctl, run
from tests.core.export.test_check import SCHEMAS, TASK, good_bundle, write


def test_export_check_passes_a_good_bundle(tmp_path: Path) -> None:
    good_bundle(tmp_path / "deploy" / "tekton")
    proc = mlopsctl("export", "check", "--schema-location", str(SCHEMAS), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OK 4 documents in 3 files" in proc.stdout


def test_export_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bundle = good_bundle(tmp_path / "b")
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "bad"
    task["spec"]["steps"][0]["image"] = "python:latest"
    task["spec"]["steps"][0]["scirpt"] = "x"
    write(bundle, "bad.yaml", task)
    proc = mlopsctl("export", "check", str(bundle), "--schema-location", str(SCHEMAS), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert (
        f"{bundle / 'bad.yaml'} #0 Task/bad: spec.steps[0].image: python:latest: uses :latest"
        in proc.stderr
    )
    assert f"{bundle / 'bad.yaml'} #0 Task/bad: spec.steps[0]: " in proc.stderr
    assert "error: export check: 2 problems in 5 documents" in proc.stderr

    as_json = mlopsctl(
        "export", "check", str(bundle), "--json", cwd=tmp_path, env=None
    )  # no schema location: the CRDs are unknown kinds
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and report["documents"] == 5
    assert {p["field"] for p in report["problems"]} >= {"kind", "spec.steps[0].image"}


def test_export_check_bad_paths_are_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(mlopsctl("export", "check", cwd=tmp_path), 2)  # no deploy/
    assert_one_line_error(mlopsctl("export", "check", str(tmp_path / "x.yaml"), cwd=tmp_path), 2)


# --- export tekton / kfp -------------------------------------------------------------------

PINNED = "registry.example.com/team/demo-pipeline@sha256:" + "b" * 64
REGISTRY = "registry.example.com/team/demo"
GIT_URL = "https://git.example.com/team/demo.git"
TEKTON_LINT = Path(os.environ.get("TEKTON_LINT", "/tmp/tekton-lint/node_modules/.bin/tekton-lint"))


def cluster_ready(project: Path) -> Path:
    """The generated project with a default DVC remote a cluster can reach (only its config:
    nothing is pushed there in these tests)."""
    dvc("remote", "add", "--default", "cluster", "s3://bucket/demo", cwd=project)
    return project


def export(engine: str, project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return mlopsctl(
        "export",
        engine,
        "--image",
        PINNED,
        "--registry",
        REGISTRY,
        "--git-url",
        GIT_URL,
        *extra,
        cwd=project,
    )


def tekton_lint() -> str:
    found = shutil.which("tekton-lint") or (str(TEKTON_LINT) if TEKTON_LINT.is_file() else None)
    if found is None:
        pytest.skip("@ibm/tekton-lint is not installed (.ci/run installs it from npm)")
    return found


def model_sweep(project: Path) -> list[str]:
    """The default sweep: one run per option of the `model` config group, sorted."""
    options = sorted(p.stem for p in (project / "conf" / "model").glob("*.yaml"))
    assert "logistic_regression" in options
    return [f"model={name}" for name in options]


def test_export_tekton_writes_a_bundle_that_checks_and_lints(project: Path) -> None:
    cluster_ready(project)
    proc = export("tekton", project, "--json")
    assert proc.returncode == 0, proc.stderr
    out = project / "deploy" / "tekton"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["tasks.yaml", "pipeline.yaml", "pipelinerun.yaml", "sweep-run.yaml", "pvc.yaml"]
    )
    assert json.loads(proc.stdout)["secrets"] == ["demo-git", "demo-dvc", "demo-registry"]
    # every document passes `export check` against the CRDs' schemas
    checked = mlopsctl("export", "check", str(out), "--schema-location", str(SCHEMAS), cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert "OK 10 documents in 5 files" in checked.stdout
    # and the real tekton-lint finds no error (its one warning: Tekton's own `sweep[*]` syntax)
    lint = run(
        [tekton_lint(), "--color=false", "--format", "json", "deploy/tekton/*.yaml"], project
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    findings = json.loads(lint.stdout or "[]")
    assert [f for f in findings if f["level"] == "error"] == []
    assert all("sweep[*]" in f["message"] for f in findings), findings

    docs = {
        (d["kind"], d["metadata"].get("name") or d["metadata"]["generateName"]): d
        for path in out.glob("*.yaml")
        for d in yaml.safe_load_all(path.read_text())
    }
    tasks = [d for (kind, _), d in docs.items() if kind == "Task"]
    images = {s["image"] for t in tasks for s in t["spec"]["steps"]}
    assert images == {PINNED}
    for task in tasks:
        step = task["spec"]["steps"][0]
        assert step["securityContext"]["runAsNonRoot"] is True
        assert step["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert step["computeResources"]["requests"]["memory"]
    lifecycle = docs[("Pipeline", "demo")]["spec"]
    order = [(t["name"], t.get("runAfter")) for t in lifecycle["tasks"]]
    assert order == [
        ("clone", None),
        ("data", ["clone"]),
        ("train", ["data"]),
        ("promote", ["train"]),
        ("build-serving", ["promote"]),
    ]
    params = {p["name"]: p.get("default") for p in lifecycle["params"]}
    assert params["git-url"] == GIT_URL and params["image-repo"] == REGISTRY
    assert params["dvc-remote"] == "cluster" and params["overrides"] == ""
    assert {r["name"] for r in lifecycle["results"]} == {
        "commit",
        "metrics",
        "model",
        "image-digest",
    }
    # a sweep fans out as a matrix over the model configs
    sweep = docs[("Pipeline", "demo-sweep")]["spec"]
    matrix = sweep["tasks"][2]["matrix"]["params"][0]
    assert matrix == {"name": "overrides", "value": "$(params.sweep[*])"}
    assert {p["name"]: p.get("default") for p in sweep["params"]}["sweep"] == model_sweep(project)
    # credentials are Secrets named in the run, never their values
    run_ws = {w["name"]: w for w in docs[("PipelineRun", "demo-")]["spec"]["workspaces"]}
    assert run_ws["git-credentials"] == {
        "name": "git-credentials",
        "secret": {"secretName": "demo-git"},
    }
    assert run_ws["registry-credentials"]["secret"] == {"secretName": "demo-registry"}
    dvc_env = docs[("Task", "demo-data")]["spec"]["steps"][0]["envFrom"]
    assert dvc_env == [{"secretRef": {"name": "demo-dvc", "optional": True}}]

    # a second export refuses to overwrite; --force replaces
    assert_one_line_error(export("tekton", project), 2)
    assert export("tekton", project, "--force").returncode == 0


def test_tekton_params_reach_the_scripts_as_values_never_as_shell(
    project: Path, tmp_path: Path
) -> None:
    """Tekton pastes `$(params.x)` into a script as text: every param comes in through the
    step's env instead. The train Task's script, run by a real shell with an override set
    that would run commands if pasted, gives the overrides to Hydra as words, and runs none."""
    cluster_ready(project)
    assert export("tekton", project).returncode == 0
    tasks = {
        d["metadata"]["name"]: d["spec"]
        for d in yaml.safe_load_all((project / "deploy/tekton/tasks.yaml").read_text())
    }
    for spec in tasks.values():
        [step] = spec["steps"]
        assert "$(params." not in step["script"]
        declared = {p["name"] for p in spec["params"]}
        from_params = {e["value"][len("$(params.") : -1] for e in step["env"] if "$(" in e["value"]}
        assert from_params <= declared
    train = tasks["demo-train"]["steps"][0]
    workspace = tmp_path / "ws"
    shutil.copytree(project, workspace / "src", symlinks=True)
    script = (
        train["script"]
        .replace("$(workspaces.source.path)", str(workspace))
        .replace("$(results.metrics.path)", str(tmp_path / "metrics"))
        .replace("$(results.commit.path)", str(tmp_path / "commit"))
    )
    hostile = '+a=$(touch pwned-1) `touch pwned-2`; touch pwned-3 "x'
    env = {**os.environ, "PARAM_OVERRIDES": hostile, "PARAM_RUN_DIR": "", "HOME": str(tmp_path)}
    ran = subprocess.run(
        ["/bin/sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode != 0  # not overrides Hydra takes (and an unclosed quote)
    assert "No closing quotation" in ran.stderr, ran.stderr
    assert not list(tmp_path.rglob("pwned-*"))
    env["PARAM_OVERRIDES"] = '+a=$(touch pwned-1) +b="`touch pwned-2`; touch pwned-3"'
    ran = subprocess.run(
        ["/bin/sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ran.returncode != 0, ran.stdout  # Hydra refuses `$(...)` in a value
    assert not list(tmp_path.rglob("pwned-*"))
    assert "mismatched input '('" in ran.stderr  # Hydra was handed the `$(` itself


def test_export_refuses_bad_input_and_writes_nothing(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert_one_line_error(export("tekton", outside), 3)  # not in a project
    unknown = mlopsctl("export", "argo", cwd=project)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    # the project's DVC remote is the local folder `init` made: no pod can reach it
    local = export("tekton", project)
    assert_one_line_error(local, 2)
    assert "local folder" in local.stderr and "dvc remote add -d" in local.stderr
    cluster_ready(project)
    no_registry = mlopsctl("export", "tekton", "--image", PINNED, "--git-url", GIT_URL, cwd=project)
    assert_one_line_error(no_registry, 2)
    assert "--registry" in no_registry.stderr
    no_image = mlopsctl("export", "kfp", "--registry", REGISTRY, "--git-url", GIT_URL, cwd=project)
    if importlib.util.find_spec("kfp") is not None:
        assert_one_line_error(no_image, 2)
        assert "mlopsctl build --kind pipeline" in no_image.stderr
    unpinned = export("tekton", project, "--image", "quay.io/x/y:1.0")
    assert_one_line_error(unpinned, 2)
    no_git = mlopsctl("export", "tekton", "--image", PINNED, "--registry", REGISTRY, cwd=project)
    assert_one_line_error(no_git, 2)
    assert "git remote add origin" in no_git.stderr
    assert not (project / "deploy").exists()


def test_export_kfp_without_the_sdk_is_an_environment_error(project: Path, tmp_path: Path) -> None:
    # a kfp that cannot be imported, first on the path: as on a machine without the extra
    fake = tmp_path / "nokfp" / "kfp"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named kfp')\n")
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{os.environ['PYTHONPATH']}"}
    proc = mlopsctl("export", "kfp", "--image", PINNED, cwd=cluster_ready(project), env=env)
    assert_one_line_error(proc, 3)
    assert 'pip install "mlopsctl[kfp]"' in proc.stderr
    assert not (project / "deploy").exists()


def test_export_kfp_compiles_the_lifecycle_and_the_sweep(project: Path) -> None:
    pytest.importorskip("kfp")
    proc = export("kfp", cluster_ready(project))
    assert proc.returncode == 0, proc.stderr
    out = project / "deploy" / "kfp"
    spec, platform = yaml.safe_load_all((out / "pipeline.yaml").read_text())
    executors = spec["deploymentSpec"]["executors"]
    # the Secrets each step reads, mounted where the step looks for them
    mounts = {
        name: {(v["secretName"], v["mountPath"], v["optional"]) for v in e["secretAsVolume"]}
        for name, e in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"].items()
    }
    where = "/var/run/secrets/mlopsctl"
    assert mounts["exec-clone"] == {("demo-git", f"{where}/git", True)}
    assert mounts["exec-promote"] == {
        ("demo-git", f"{where}/git", True),
        ("demo-dvc", f"{where}/dvc", True),
    }
    assert mounts["exec-build-serving"] == {
        ("demo-dvc", f"{where}/dvc", True),
        ("demo-registry", f"{where}/registry", True),
    }
    assert {e["container"]["image"] for e in executors.values()} == {PINNED}
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == {
        "git_url",
        "git_revision",
        "dvc_remote",
        "overrides",
        "stage",
        "image_repo",
        "build_image",
    }
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"clone", "pull-data", "train", "promote", "condition-1"}
    metrics = spec["components"]["comp-train"]["outputDefinitions"]["artifacts"]["metrics"]
    assert metrics["artifactType"]["schemaTitle"] == "system.Metrics"
    sweep, _ = yaml.safe_load_all((out / "sweep.yaml").read_text())
    loop = [t for t in sweep["root"]["dag"]["tasks"].values() if "parameterIterator" in t]
    assert len(loop) == 1
    sweep_params = sweep["root"]["inputDefinitions"]["parameters"]
    assert sweep_params["sweep"]["defaultValue"] == model_sweep(project)
