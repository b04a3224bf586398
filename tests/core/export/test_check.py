"""`export check` on real YAML files against the real schemas (kubernetes-validate's and
../shared/k8s-schemas): a good bundle passes, and each kind of mistake is found, named by file,
document and field path."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlopsctl.core.export.check import Problem, check, check_paths
from mlopsctl.errors import BadInput

SHARED = Path(
    os.environ.get("MLOPSCTL_SHARED", Path(__file__).resolve().parents[3] / ".." / "shared")
)
SCHEMAS = SHARED / "k8s-schemas"
IMAGE = "registry.example.com/team/pipeline@sha256:" + "a" * 64

TASK: dict[str, Any] = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Task",
    "metadata": {"name": "train"},
    "spec": {
        "params": [{"name": "overrides", "type": "string", "default": ""}],
        "workspaces": [{"name": "source"}],
        "results": [{"name": "version", "type": "string"}],
        "steps": [
            {
                "name": "train",
                "image": IMAGE,
                "workingDir": "$(workspaces.source.path)",
                "script": "mlopsctl train $(params.overrides)\necho v1 > $(results.version.path)\n",
                "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False},
            }
        ],
    },
}
PIPELINE: dict[str, Any] = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Pipeline",
    "metadata": {"name": "lifecycle"},
    "spec": {
        "params": [{"name": "overrides", "type": "string", "default": ""}],
        "workspaces": [{"name": "source"}],
        "results": [{"name": "version", "value": "$(tasks.train.results.version)"}],
        "tasks": [
            {
                "name": "train",
                "taskRef": {"name": "train"},
                "params": [{"name": "overrides", "value": "$(params.overrides)"}],
                "workspaces": [{"name": "source", "workspace": "source"}],
            },
            {
                "name": "again",
                "runAfter": ["train"],
                "taskRef": {"name": "train"},
                "matrix": {"params": [{"name": "overrides", "value": ["a=1", "a=2"]}]},
                "workspaces": [{"name": "source", "workspace": "source"}],
            },
        ],
    },
}
RUN: dict[str, Any] = {
    "apiVersion": "tekton.dev/v1",
    "kind": "PipelineRun",
    "metadata": {"generateName": "lifecycle-"},
    "spec": {
        "pipelineRef": {"name": "lifecycle"},
        "params": [{"name": "overrides", "value": "model.c=0.5"}],
        "workspaces": [
            {
                "name": "source",
                "volumeClaimTemplate": {
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    }
                },
            }
        ],
    },
}
SERVICE_ACCOUNT = {
    "apiVersion": "v1",
    "kind": "ServiceAccount",
    "metadata": {"name": "pipeline"},
    "secrets": [{"name": "git-credentials"}],
}


def write(folder: Path, name: str, *docs: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def good_bundle(tmp_path: Path) -> Path:
    write(tmp_path, "task.yaml", TASK)
    write(tmp_path, "pipeline.yaml", PIPELINE, SERVICE_ACCOUNT)
    write(tmp_path, "run.yaml", RUN)
    return tmp_path


def problems_of(tmp_path: Path, *docs: dict[str, Any]) -> list[Problem]:
    good_bundle(tmp_path)
    write(tmp_path, "zz-extra.yaml", *docs)
    return [p for p in check_paths([tmp_path], [SCHEMAS]) if p.file.endswith("zz-extra.yaml")]


def test_a_good_bundle_passes(tmp_path: Path) -> None:
    report = check([good_bundle(tmp_path)], [SCHEMAS])
    assert report.problems == []
    assert report.documents == 4 and len(report.files) == 3


def test_a_misspelt_field_fails_the_crd_schema_with_its_path(tmp_path: Path) -> None:
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "other"
    task["spec"]["steps"][0]["scirpt"] = "echo"
    [problem] = problems_of(tmp_path, task)
    assert problem.document == 0 and problem.name == "Task/other"
    assert problem.field == "spec.steps[0]" and "scirpt" in problem.message


def test_builtin_kinds_are_strict(tmp_path: Path) -> None:
    account = {**SERVICE_ACCOUNT, "metadata": {"name": "x"}, "secretz": []}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": 1}}
    problems = problems_of(tmp_path, account, config)
    assert [(p.document, p.field) for p in problems] == [(0, ""), (1, "data.a")]
    assert "secretz" in problems[0].message


def test_an_unknown_kind_is_a_failure(tmp_path: Path) -> None:
    odd = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    typo = {"apiVersion": "apps/v1", "kind": "Deploymnet", "metadata": {"name": "d"}}
    problems = problems_of(tmp_path, odd, typo)
    assert [(p.document, p.field) for p in problems] == [(0, "kind"), (1, "kind")]
    assert "unknown kind Widget" in problems[0].message


def test_crds_fail_without_their_schema_location(tmp_path: Path) -> None:
    problems = check_paths([good_bundle(tmp_path)], [])
    assert {p.name for p in problems} == {
        "Task/train",
        "Pipeline/lifecycle",
        "PipelineRun/lifecycle-",
    }
    assert all(p.field == "kind" for p in problems)


def test_tekton_references_resolve(tmp_path: Path) -> None:
    pipeline = copy.deepcopy(PIPELINE)
    pipeline["metadata"]["name"] = "broken"
    tasks = pipeline["spec"]["tasks"]
    tasks[0]["params"].append({"name": "nope", "value": "x"})
    tasks[0]["workspaces"][0]["workspace"] = "missing"
    tasks[1]["runAfter"] = ["ghost"]
    tasks[1]["taskRef"]["name"] = "no-such-task"
    pipeline["spec"]["results"][0]["value"] = "$(tasks.train.results.digest)"
    pipeline["spec"]["params"] = []
    fields = {(p.field, p.message.split(":")[0]) for p in problems_of(tmp_path, pipeline)}
    assert fields == {
        ("spec.tasks[0].params[1]", "the Task declares no param 'nope'"),
        ("spec.tasks[0].workspaces[0].workspace", "the Pipeline declares no workspace 'missing'"),
        ("spec.tasks[1].taskRef.name", "no Task named 'no-such-task' among the documents"),
        ("spec.tasks[0].params[0].value", "$(params.overrides)"),
        ("spec.results[0].value", "$(tasks.train.results.digest)"),
    }


def test_required_params_and_workspaces_must_be_given(tmp_path: Path) -> None:
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "strict"
    del task["spec"]["params"][0]["default"]
    task["spec"]["steps"][0]["script"] += "cat $(workspaces.cache.path) $(results.nothing.path)\n"
    pipeline = copy.deepcopy(PIPELINE)
    pipeline["metadata"]["name"] = "p2"
    pipeline["spec"]["tasks"] = [{"name": "t", "taskRef": {"name": "strict"}}]
    pipeline["spec"]["results"] = []
    run = copy.deepcopy(RUN)
    run["spec"]["pipelineRef"]["name"] = "p2"
    run["spec"]["workspaces"] = []
    run["spec"]["params"].append({"name": "extra", "value": "1"})
    messages = sorted(
        f"{p.name} {p.field}: {p.message}" for p in problems_of(tmp_path, task, pipeline, run)
    )
    assert messages == [
        "Pipeline/p2 spec.tasks[0].params: required param 'overrides' of the Task not given",
        "Pipeline/p2 spec.tasks[0].workspaces: workspace 'source' of the Task not bound",
        "PipelineRun/lifecycle- spec.params[1]: the Pipeline declares no param 'extra'",
        "PipelineRun/lifecycle- spec.workspaces: workspace 'source' of the Pipeline not bound",
        "Task/strict spec.steps[0].script: $(results.nothing.path): "
        "the Task declares no result 'nothing'",
        "Task/strict spec.steps[0].script: $(workspaces.cache.path): "
        "the Task declares no workspace 'cache'",
    ]


@pytest.mark.parametrize(
    ("image", "says"),
    [
        ("registry.example.com/team/pipeline:1.0", "not pinned by digest"),
        ("registry.example.com/team/pipeline:latest", ":latest"),
        ("registry.example.com/team/pipeline", "not pinned by digest"),
        ("registry.example.com/team/pipeline@sha256:abc", "not pinned by digest"),
    ],
)
def test_every_image_is_pinned_by_digest(tmp_path: Path, image: str, says: str) -> None:
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "unpinned"
    task["spec"]["steps"][0]["image"] = image
    [problem] = problems_of(tmp_path, task)
    assert problem.field == "spec.steps[0].image" and says in problem.message


def test_an_image_param_is_judged_by_its_default(tmp_path: Path) -> None:
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "by-param"
    task["spec"]["params"].append({"name": "image", "type": "string", "default": "x:latest"})
    task["spec"]["steps"][0]["image"] = "$(params.image)"
    [problem] = problems_of(tmp_path, task)
    assert problem.field == "spec.steps[0].image" and "default x:latest" in problem.message


def test_no_inline_secrets(tmp_path: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"password": "hunter2"},
    }
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "leaky"
    step = task["spec"]["steps"][0]
    step["env"] = [
        {"name": "AWS_SECRET_ACCESS_KEY", "value": "abc123"},
        {"name": "GIT_URL", "value": "https://bob:s3cret@git.example.com/x.git"},
        {"name": "DVC_TOKEN", "valueFrom": {"secretKeyRef": {"name": "dvc", "key": "token"}}},
        {"name": "MODE", "value": "fast"},
    ]
    problems = problems_of(tmp_path, secret, task)
    assert [(p.document, p.field) for p in problems] == [
        (0, "stringData"),
        (1, "spec.steps[0].env[0].value"),
        (1, "spec.steps[0].env[1].value"),
    ]
    assert "a URL with a password" in problems[2].message


def test_privileged_steps_are_refused(tmp_path: Path) -> None:
    task = copy.deepcopy(TASK)
    task["metadata"]["name"] = "root"
    task["spec"]["steps"][0]["securityContext"] = {"privileged": True, "runAsUser": 0}
    fields = [p.field for p in problems_of(tmp_path, task)]
    assert fields == [
        "spec.steps[0].securityContext.privileged",
        "spec.steps[0].securityContext.runAsUser",
    ]


def test_not_yaml_and_not_kubernetes(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [1\n")
    (tmp_path / "list.yml").write_text("- 1\n- 2\n")
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
    )
    report = check([tmp_path], [SCHEMAS])
    assert [(Path(p.file).name, p.message.split(":")[0]) for p in report.problems] == [
        ("bad.yaml", "not valid YAML"),
        ("list.yml", "not a Kubernetes object (no apiVersion and kind)"),
    ]
    assert report.skipped == [f"{tmp_path / 'kustomization.yaml'} #0: kustomize's own file"]


def test_bad_paths_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        check([tmp_path / "nowhere"], [SCHEMAS])
    with pytest.raises(BadInput, match="no YAML files"):
        check([tmp_path], [SCHEMAS])
    with pytest.raises(BadInput, match="is not a folder"):
        check([good_bundle(tmp_path)], [tmp_path / "task.yaml"])
