"""Runs an exported Tekton Pipeline's steps without a cluster: each Task's step scripts, in
runAfter order, with params, results, workspaces and context substituted as Tekton does,
inside the pipeline image under podman (arbitrary UID in group 0), the workspaces
bind-mounted from the host."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

UID = "1000680000:0"  # an OpenShift-style arbitrary UID in group 0
VARIABLE = re.compile(r"\$\((params|results|workspaces|tasks|context)\.([^)]+)\)")


@dataclass
class PipelineRun:
    results: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> result -> value
    order: list[str] = field(default_factory=list)


def load(bundle: Path) -> dict[tuple[str, str], dict[str, Any]]:
    docs = {}
    for path in sorted(bundle.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "name" in doc["metadata"]:
                docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def _order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done: list[str] = []
    ordered = []
    pending = list(tasks)
    while pending:
        ready = [t for t in pending if all(a in done for a in t.get("runAfter") or [])]
        assert ready, f"runAfter has a cycle among {[t['name'] for t in pending]}"
        for task in ready:
            ordered.append(task)
            done.append(task["name"])
            pending.remove(task)
    return ordered


def run_pipeline(
    bundle: Path,
    pipeline: str,
    params: dict[str, Any],
    workspaces: dict[str, Path],
    image: str,
    podman: list[str],
    mounts: dict[Path, str],
    env: dict[str, str],
    extra_env: dict[str, str] | None = None,
) -> PipelineRun:
    docs = load(bundle)
    spec = docs[("Pipeline", pipeline)]["spec"]
    values = {p["name"]: p.get("default") for p in spec.get("params") or []}
    values.update(params)
    run = PipelineRun()
    for ptask in _order(spec["tasks"]):
        task = docs[("Task", ptask["taskRef"]["name"])]["spec"]
        given = {
            p["name"]: _pipeline_value(p["value"], values, run) for p in ptask.get("params", [])
        }
        bound = {
            w["name"]: workspaces[w["workspace"]]
            for w in ptask.get("workspaces") or []
            if w["workspace"] in workspaces
        }
        combinations = _matrix(ptask.get("matrix"), values)
        for index, combination in enumerate(combinations):
            # a matrix fans out one TaskRun per combination, NAME-0, NAME-1, ... as Tekton does
            name = ptask["name"] if "matrix" not in ptask else f"{ptask['name']}-{index}"
            task_params = {p["name"]: p.get("default", "") for p in task.get("params") or []}
            task_params.update(given)
            task_params.update(combination)
            run.results[name] = _run_task(
                task, name, task_params, bound, workspaces, image, podman, mounts, env, extra_env
            )
            run.order.append(name)
    return run


def _run_task(
    task: dict[str, Any],
    name: str,
    task_params: dict[str, Any],
    bound: dict[str, Path],
    workspaces: dict[str, Path],
    image: str,
    podman: list[str],
    mounts: dict[Path, str],
    env: dict[str, str],
    extra_env: dict[str, str] | None,
) -> dict[str, str]:
    """One TaskRun: each step's script in the image; its results."""
    results_dir = workspaces["source"].parent / "results" / name
    results_dir.mkdir(parents=True, exist_ok=True)
    results_dir.chmod(0o777)
    for step in task["steps"]:
        script = _task_script(step["script"], task_params, bound, name)
        args = [*podman, "run", "--rm", "--user", UID]
        for workspace, host in bound.items():
            args += ["-v", f"{host}:/workspace/{workspace}"]
        for host_path, container_path in mounts.items():
            args += ["-v", f"{host_path}:{container_path}"]
        args += ["-v", f"{results_dir}:/tekton/results"]
        for item in step.get("env") or []:  # Tekton substitutes params in env values too
            value = _task_script(item["value"], task_params, bound, name)
            args += ["-e", f"{item['name']}={value}"]
        for key, value in (extra_env or {}).items():
            args += ["-e", f"{key}={value}"]
        args += [image, "/bin/sh", "-c", script]
        done = subprocess.run(
            args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        assert done.returncode == 0, (
            f"task {name} failed ({done.returncode}):\n{script}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        )
    return {r["name"]: (results_dir / r["name"]).read_text() for r in task.get("results") or []}


def _matrix(matrix: dict[str, Any] | None, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A matrix's combinations (each param's array, `$(params.x[*])` or a literal list):
    their cartesian product, in order; one empty combination without a matrix."""
    if not matrix:
        return [{}]
    import itertools

    axes = []
    for param in matrix["params"]:
        value = param["value"]
        if isinstance(value, str):
            whole = re.fullmatch(r"\$\(params\.([^)\[]+)\[\*\]\)", value)
            assert whole, f"a matrix param is an array: {value}"
            value = params[whole.group(1)]
        assert isinstance(value, list), value
        axes.append([(param["name"], item) for item in value])
    return [dict(combination) for combination in itertools.product(*axes)]


def _pipeline_value(value: Any, params: dict[str, Any], run: PipelineRun) -> Any:
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        scope, rest = match.group(1), match.group(2)
        if scope == "params":
            return str(params[rest])
        if scope == "tasks":
            task, _, result = rest.split(".", 2)
            return run.results[task][result]
        raise AssertionError(f"unexpected {match.group(0)} in a Pipeline")

    return VARIABLE.sub(sub, value)


def _task_script(script: str, params: dict[str, Any], bound: dict[str, Path], name: str) -> str:
    def sub(match: re.Match[str]) -> str:
        scope, rest = match.group(1), match.group(2)
        if scope == "params":
            return str(params[rest])
        if scope == "results":
            return f"/tekton/results/{rest.removesuffix('.path')}"
        if scope == "workspaces":
            workspace, _, what = rest.partition(".")
            if what == "bound":
                return "true" if workspace in bound else "false"
            return f"/workspace/{workspace}"
        if scope == "context" and rest == "taskRun.name":
            return f"{name}-run"
        raise AssertionError(f"unexpected {match.group(0)} in a Task")

    return VARIABLE.sub(sub, script)
