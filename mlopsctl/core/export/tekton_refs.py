"""Tekton references no schema can see: every taskRef/pipelineRef names a document of the
bundle, every param, workspace and result used is declared where it is used, every
required param and workspace is given, every runAfter names a task."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mlopsctl.core.export.check import Bundle, Document, Problem, register_rule, walk

TEKTON = "tekton.dev"
# $(params.x) $(params.x[*]) $(params.x.key) $(results.r.path) $(workspaces.w.path)
# $(tasks.t.results.r) $(tasks.t.results.r[*]) $(tasks.t.status) ...
VARIABLE = re.compile(r"\$\((params|results|workspaces|tasks)\.([A-Za-z0-9_-]+)((?:\.[^)\s]*)?)\)")


def _names(items: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {str(i["name"]): i for i in items if isinstance(i, dict) and "name" in i}


def _strings(value: Any, path: str, skip: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    for here, _key, item in walk(value, path):
        if skip and skip in here:
            continue
        if isinstance(item, str):
            yield here, item


@register_rule
def tekton_references(doc: Document, bundle: Bundle) -> Iterator[Problem]:
    if doc.group != TEKTON:
        return
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        return
    if doc.kind == "Task":
        yield from _task(doc, spec)
    elif doc.kind == "Pipeline":
        yield from _pipeline(doc, spec, bundle)
    elif doc.kind in ("PipelineRun", "TaskRun"):
        yield from _run(doc, spec, bundle)


def _task(doc: Document, spec: dict[str, Any]) -> Iterator[Problem]:
    declared = {
        "params": _names(spec.get("params")),
        "results": _names(spec.get("results")),
        "workspaces": _names(spec.get("workspaces")),
    }
    for path, text in _strings(spec, "spec"):
        for match in VARIABLE.finditer(text):
            scope, name = match.group(1), match.group(2)
            if scope == "tasks":
                yield doc.problem(path, f"{match.group(0)}: a Task cannot read other tasks")
            elif name not in declared[scope]:
                yield doc.problem(
                    path, f"{match.group(0)}: the Task declares no {scope[:-1]} {name!r}"
                )


def _pipeline(doc: Document, spec: dict[str, Any], bundle: Bundle) -> Iterator[Problem]:
    params = _names(spec.get("params"))
    workspaces = _names(spec.get("workspaces"))
    tasks: dict[str, tuple[str, dict[str, Any]]] = {}
    for section in ("tasks", "finally"):
        for index, task in enumerate(spec.get(section) or []):
            if isinstance(task, dict) and "name" in task:
                tasks[str(task["name"])] = (f"spec.{section}[{index}]", task)
    referenced: dict[str, Document | None] = {}
    for name, (path, task) in tasks.items():
        task_doc = _referenced(doc, bundle, task, f"{path}.taskRef", "taskRef", "Task")
        referenced[name] = task_doc
        if isinstance(task_doc, Problem):
            yield task_doc
            referenced[name] = None
            continue
        for index, after in enumerate(task.get("runAfter") or []):
            if after not in tasks or not tasks[after][0].startswith("spec.tasks"):
                yield doc.problem(f"{path}.runAfter[{index}]", f"no task named {after!r}")
        for index, bound in enumerate(task.get("workspaces") or []):
            if isinstance(bound, dict) and bound.get("workspace") not in workspaces:
                yield doc.problem(
                    f"{path}.workspaces[{index}].workspace",
                    f"the Pipeline declares no workspace {bound.get('workspace')!r}",
                )
        if task_doc is not None:
            yield from _bindings(doc, path, task, task_doc.body.get("spec") or {}, "Task")
    for path, text in _strings(spec, "spec", skip=".taskSpec"):
        for match in VARIABLE.finditer(text):
            scope, name, rest = match.group(1), match.group(2), match.group(3)
            if scope == "params" and name not in params:
                yield doc.problem(
                    path, f"{match.group(0)}: the Pipeline declares no param {name!r}"
                )
            elif scope == "workspaces" and name not in workspaces:
                yield doc.problem(
                    path, f"{match.group(0)}: the Pipeline declares no workspace {name!r}"
                )
            elif scope == "results":
                yield doc.problem(path, f"{match.group(0)}: use $(tasks.NAME.results.RESULT)")
            elif scope == "tasks" and name != "status":
                yield from _task_result(doc, path, match.group(0), name, rest, tasks, referenced)


def _task_result(
    doc: Document,
    path: str,
    text: str,
    task: str,
    rest: str,
    tasks: dict[str, tuple[str, dict[str, Any]]],
    referenced: dict[str, Document | None],
) -> Iterator[Problem]:
    if task not in tasks:
        yield doc.problem(path, f"{text}: no task named {task!r}")
        return
    parts = rest.lstrip(".").split(".")
    if parts[0] != "results" or len(parts) < 2:
        return
    result = re.sub(r"\[.*\]$", "", parts[1])
    task_doc = referenced.get(task)
    if task_doc is not None:
        declared = _names((task_doc.body.get("spec") or {}).get("results"))
        if result not in declared:
            yield doc.problem(path, f"{text}: Task {task_doc.name} declares no result {result!r}")


def _referenced(
    doc: Document, bundle: Bundle, holder: dict[str, Any], path: str, key: str, kind: str
) -> Any:
    """The Document a taskRef/pipelineRef names, None when it cannot be checked offline (a
    resolver, an inline spec), or a Problem when it names nothing in the bundle."""
    ref = holder.get(key)
    if not isinstance(ref, dict):
        if not holder.get(f"{kind.lower()}Spec"):
            return doc.problem(path, f"neither {key} nor {kind.lower()}Spec")
        return None
    if ref.get("resolver"):
        return None  # a remote Task (hub, bundle, git): resolved by the cluster
    name = ref.get("name")
    target = bundle.find(str(ref.get("kind") or kind), str(name))
    if target is None:
        return doc.problem(f"{path}.name", f"no {kind} named {name!r} among the documents")
    return target


def _bindings(
    doc: Document, path: str, given: dict[str, Any], target: dict[str, Any], kind: str
) -> Iterator[Problem]:
    """`given`'s params and workspaces against what `target` (a Task/Pipeline spec) declares."""
    declared = _names(target.get("params"))
    matrix: dict[str, Any] = given.get("matrix") or {}
    passed = _names(given.get("params"))
    passed_matrix = _names(matrix.get("params"))
    for include in matrix.get("include") or []:
        if isinstance(include, dict):
            passed_matrix.update(_names(include.get("params")))
    for section, names in (("params", passed), ("matrix.params", passed_matrix)):
        for index, name in enumerate(names):
            if name not in declared:
                yield doc.problem(
                    f"{path}.{section}[{index}]", f"the {kind} declares no param {name!r}"
                )
    for name, param in declared.items():
        if "default" not in param and name not in passed and name not in passed_matrix:
            yield doc.problem(f"{path}.params", f"required param {name!r} of the {kind} not given")
    wanted = _names(target.get("workspaces"))
    bound = _names(given.get("workspaces"))
    for index, name in enumerate(bound):
        if name not in wanted:
            yield doc.problem(
                f"{path}.workspaces[{index}]", f"the {kind} declares no workspace {name!r}"
            )
    for name, workspace in wanted.items():
        if not workspace.get("optional") and name not in bound:
            yield doc.problem(f"{path}.workspaces", f"workspace {name!r} of the {kind} not bound")


def _run(doc: Document, spec: dict[str, Any], bundle: Bundle) -> Iterator[Problem]:
    kind = "Pipeline" if doc.kind == "PipelineRun" else "Task"
    key = f"{kind.lower()}Ref"
    target = _referenced(doc, bundle, spec, f"spec.{key}", key, kind)
    if isinstance(target, Problem):
        yield target
    elif target is not None:
        yield from _bindings(doc, "spec", spec, target.body.get("spec") or {}, kind)
