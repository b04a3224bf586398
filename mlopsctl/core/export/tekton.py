"""`mlopsctl export tekton`: the project's lifecycle as Tekton (tekton.dev/v1) Tasks, two
Pipelines (the lifecycle, and a sweep that fans out as a matrix), PipelineRun templates and
the DVC cache's PersistentVolumeClaim. Every step runs the pinned pipeline image, as a
non-root user with no privilege (OpenShift's restricted SCC); credentials are Secrets bound by
name as workspaces or env, never inlined."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlopsctl.core.export.plan import ExportPlan, dump_yaml, write_documents

API = "tekton.dev/v1"
FILES = ("tasks.yaml", "pipeline.yaml", "pipelinerun.yaml", "sweep-run.yaml", "pvc.yaml")
SECURITY = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESOURCES = {
    "small": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    "large": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "8Gi"}},
}
ENV = [
    # an arbitrary uid (restricted SCC) has no home: HOME in the writable /tmp
    {"name": "HOME", "value": "/tmp/home"},
    {"name": "DVC_NO_ANALYTICS", "value": "1"},
    {"name": "DVC_NO_UPDATE_CHECK", "value": "1"},
    {"name": "CI", "value": "true"},
]
SRC = "$(workspaces.source.path)/src"

# pick a field of the JSON on stdin (mlopsctl's --json output), as text
PICK = """\
pick='import json, sys
value = json.load(sys.stdin)[sys.argv[1]]
print(value if isinstance(value, str) else json.dumps(value, sort_keys=True), end="")'
"""

# the git credentials workspace: a Secret with .git-credentials and .gitconfig (Tekton's
# basic-auth convention) or ssh keys in .ssh/
GIT_CREDENTIALS = """\
mkdir -p "$HOME"
if [ "$(workspaces.git-credentials.bound)" = "true" ]; then
  for f in .git-credentials .gitconfig; do
    if [ -f "$(workspaces.git-credentials.path)/$f" ]; then
      cp "$(workspaces.git-credentials.path)/$f" "$HOME/$f"
    fi
  done
  if [ -d "$(workspaces.git-credentials.path)/.ssh" ]; then
    cp -R "$(workspaces.git-credentials.path)/.ssh" "$HOME/.ssh" && chmod -R go-rwx "$HOME/.ssh"
  fi
fi
"""

CLONE = (
    """\
#!/bin/sh
set -eu
"""
    + GIT_CREDENTIALS
    + """\
rm -rf "{src}"
git clone --quiet "$(params.git-url)" "{src}"
cd "{src}"
git checkout --quiet "$(params.git-revision)"
git config user.name "$(params.git-user-name)"
git config user.email "$(params.git-user-email)"
printf %s "$(git rev-parse HEAD)" > "$(results.commit.path)"
"""
)

DATA = """\
#!/bin/sh
set -eu
mkdir -p "$HOME"
cd "{src}"
dvc config --local cache.dir "$(workspaces.dvc-cache.path)"
dvc remote default --local "$(params.dvc-remote)"
dvc pull --quiet
"""

TRAIN = (
    """\
#!/bin/sh
set -eu
"""
    + PICK
    + """\
mkdir -p "$HOME"
cd "{src}"
if [ -n "$(params.run-dir)" ]; then
  # a sweep's runs share the workspace: each trains in its own copy
  run="$(workspaces.source.path)/$(params.run-dir)/$(context.taskRun.name)"
  rm -rf "$run" && mkdir -p "$run" && cp -a . "$run" && cd "$run"
fi
# the overrides split into words as a shell splits them (quotes kept: +note="a b"), never
# run: model=random_forest model.n_estimators=50 is two overrides
python3 -c 'import os, shlex, sys
os.execvp("mlopsctl", ["mlopsctl", "train", "--no-exp", "--json", *shlex.split(sys.argv[1])])' \
  "$(params.overrides)" > /tmp/train.json
git add -A
git diff --cached --quiet ||
  git commit --quiet --no-verify -m "Train in the pipeline: $(params.overrides)"
python3 -c "$pick" metrics < /tmp/train.json > "$(results.metrics.path)"
printf %s "$(git rev-parse HEAD)" > "$(results.commit.path)"
"""
)

PROMOTE = (
    """\
#!/bin/sh
set -eu
"""
    + PICK
    + GIT_CREDENTIALS
    + """\
cd "{src}"
dvc push --quiet
mlopsctl promote --to "$(params.stage)" --push --json > /tmp/promote.json
printf %s@%s "$(python3 -c "$pick" name < /tmp/promote.json)" \\
  "$(python3 -c "$pick" version < /tmp/promote.json)" > "$(results.model.path)"
"""
)

BUILD = (
    """\
#!/bin/sh
set -eu
"""
    + PICK
    + """\
mkdir -p "$HOME"
cd "{src}"
if [ "$(workspaces.registry-credentials.bound)" = "true" ]; then
  export REGISTRY_AUTH_FILE="$(workspaces.registry-credentials.path)/.dockerconfigjson"
fi
# the native builder: no daemon, no privilege, same inputs -> same digest. An empty
# image-repo builds without pushing (the push is `mlopsctl build --push`).
set -- --output "$(workspaces.source.path)/image/image.tar" --json
if [ -n "$(params.image-repo)" ]; then set -- "$@" --push "$(params.image-repo)"; fi
mlopsctl build "$(params.model)" "$@" > /tmp/build.json
python3 -c "$pick" digest < /tmp/build.json > "$(results.image-digest.path)"
"""
)


def _param(name: str, description: str, default: Any = None, kind: str = "string") -> dict:
    param: dict[str, Any] = {"name": name, "type": kind, "description": description}
    if default is not None:
        param["default"] = default
    return param


def _task(
    plan: ExportPlan,
    name: str,
    description: str,
    script: str,
    *,
    params: list[dict[str, Any]],
    workspaces: list[dict[str, Any]],
    results: list[str],
    size: str = "small",
    dvc_credentials: bool = False,
) -> dict[str, Any]:
    script, param_env = _params_as_env(script.replace("{src}", SRC))
    step: dict[str, Any] = {
        "name": "run",
        "image": plan.image,
        "env": ENV + param_env,
        "computeResources": RESOURCES[size],
        "securityContext": SECURITY,
        "script": script,
    }
    if dvc_credentials:
        # the DVC remote's credentials (AWS_ACCESS_KEY_ID, ... as the remote's plugin reads)
        step["envFrom"] = [{"secretRef": {"name": plan.secret("dvc"), "optional": True}}]
    return {
        "apiVersion": API,
        "kind": "Task",
        "metadata": {"name": f"{plan.slug}-{name}", "labels": _labels(plan)},
        "spec": {
            "description": description,
            "params": params,
            "workspaces": workspaces,
            "results": [{"name": r, "type": "string"} for r in results],
            "steps": [step],
        },
    }


PARAM = re.compile(r"\$\(params\.([A-Za-z0-9_-]+)\)")


def _params_as_env(script: str) -> tuple[str, list[dict[str, str]]]:
    """The script with each `$(params.x)` read from an environment variable PARAM_X, and
    those variables. Tekton pastes a param into a script as text, so a value with quotes,
    `$(...)` or `;` would be run as shell; in `env` it stays a value (Tekton's advice)."""

    def env_name(param: str) -> str:
        return "PARAM_" + param.upper().replace("-", "_")

    names = sorted(set(PARAM.findall(script)))
    env = [{"name": env_name(n), "value": f"$(params.{n})"} for n in names]
    return PARAM.sub(lambda m: "${" + env_name(m.group(1)) + "}", script), env


def _labels(plan: ExportPlan) -> dict[str, str]:
    return {"app.kubernetes.io/name": plan.slug, "app.kubernetes.io/managed-by": "mlopsctl"}


SOURCE_WS = {"name": "source", "description": "The clone (src/) and the built image."}
CACHE_WS = {"name": "dvc-cache", "description": "DVC's cache, kept between runs."}
GIT_WS = {
    "name": "git-credentials",
    "description": "A Secret with .git-credentials and .gitconfig, or .ssh/.",
    "optional": True,
    "readOnly": True,
}
REGISTRY_WS = {
    "name": "registry-credentials",
    "description": "A Secret of type kubernetes.io/dockerconfigjson for the image registry.",
    "optional": True,
    "readOnly": True,
}


def tasks(plan: ExportPlan) -> list[dict[str, Any]]:
    return [
        _task(
            plan,
            "clone",
            "Clone the project's repository at a revision, with its registry tags.",
            CLONE,
            params=[
                _param("git-url", "The repository to clone."),
                _param("git-revision", "Branch, tag or commit.", plan.git_revision),
                _param("git-user-name", "The committer of trained models.", "mlopsctl pipeline"),
                _param("git-user-email", "Its e-mail.", "pipeline@mlopsctl.invalid"),
            ],
            workspaces=[SOURCE_WS, GIT_WS],
            results=["commit"],
        ),
        _task(
            plan,
            "data",
            "Pull the data and models the commit references from the DVC remote.",
            DATA,
            params=[_param("dvc-remote", "The DVC remote to use.", plan.dvc_remote)],
            workspaces=[SOURCE_WS, CACHE_WS],
            results=[],
            dvc_credentials=True,
        ),
        _task(
            plan,
            "train",
            "Compose conf/ with the Hydra overrides, run the DVC pipeline, commit the result.",
            TRAIN,
            params=[
                _param("overrides", "Hydra overrides, separated by spaces.", ""),
                _param("run-dir", "Train in a copy under this folder (sweeps).", ""),
            ],
            workspaces=[SOURCE_WS, CACHE_WS],
            results=["metrics", "commit"],
            size="large",
            dvc_credentials=True,
        ),
        _task(
            plan,
            "promote",
            "Push the model to the DVC remote; promote it through the gates; push the tags.",
            PROMOTE,
            params=[_param("stage", "The stage to promote to.", plan.stage)],
            workspaces=[SOURCE_WS, CACHE_WS, GIT_WS],
            results=["model"],
            dvc_credentials=True,
        ),
        _task(
            plan,
            "build-serving",
            "Build the serving image of the promoted model natively and push it.",
            BUILD,
            params=[
                _param("model", "The model version to build: NAME@vX.Y.Z."),
                _param("image-repo", "Where to push the image (empty: build only).", ""),
            ],
            workspaces=[SOURCE_WS, CACHE_WS, REGISTRY_WS],
            results=["image-digest"],
            size="large",
            dvc_credentials=True,
        ),
    ]


def _ws(*names: str) -> list[dict[str, str]]:
    return [{"name": n, "workspace": n} for n in names]


def _pipeline_params(plan: ExportPlan) -> list[dict[str, Any]]:
    return [
        _param("git-url", "The repository to clone.", plan.git_url),
        _param("git-revision", "Branch, tag or commit.", plan.git_revision),
        _param("dvc-remote", "The DVC remote to pull from and push to.", plan.dvc_remote),
    ]


def _clone_and_data(plan: ExportPlan) -> list[dict[str, Any]]:
    return [
        {
            "name": "clone",
            "taskRef": {"name": f"{plan.slug}-clone"},
            "params": [
                {"name": "git-url", "value": "$(params.git-url)"},
                {"name": "git-revision", "value": "$(params.git-revision)"},
            ],
            "workspaces": _ws("source", "git-credentials"),
        },
        {
            "name": "data",
            "runAfter": ["clone"],
            "taskRef": {"name": f"{plan.slug}-data"},
            "params": [{"name": "dvc-remote", "value": "$(params.dvc-remote)"}],
            "workspaces": _ws("source", "dvc-cache"),
        },
    ]


def pipelines(plan: ExportPlan) -> list[dict[str, Any]]:
    workspaces = [
        {"name": "source"},
        {"name": "dvc-cache"},
        {"name": "git-credentials", "optional": True},
        {"name": "registry-credentials", "optional": True},
    ]
    lifecycle = {
        "apiVersion": API,
        "kind": "Pipeline",
        "metadata": {"name": plan.slug, "labels": _labels(plan)},
        "spec": {
            "description": f"{plan.name}: clone, dvc pull, train, promote to {plan.stage} "
            "through the gates, build and push the serving image.",
            "params": [
                *_pipeline_params(plan),
                _param("overrides", "Hydra overrides for the training run.", ""),
                _param("stage", "The stage to promote to.", plan.stage),
                _param("image-repo", "Where the serving image goes.", plan.registry),
            ],
            "workspaces": workspaces,
            "tasks": [
                *_clone_and_data(plan),
                {
                    "name": "train",
                    "runAfter": ["data"],
                    "taskRef": {"name": f"{plan.slug}-train"},
                    "params": [{"name": "overrides", "value": "$(params.overrides)"}],
                    "workspaces": _ws("source", "dvc-cache"),
                },
                {
                    "name": "promote",
                    "runAfter": ["train"],
                    "taskRef": {"name": f"{plan.slug}-promote"},
                    "params": [{"name": "stage", "value": "$(params.stage)"}],
                    "workspaces": _ws("source", "dvc-cache", "git-credentials"),
                },
                {
                    "name": "build-serving",
                    "runAfter": ["promote"],
                    "taskRef": {"name": f"{plan.slug}-build-serving"},
                    "params": [
                        {"name": "model", "value": "$(tasks.promote.results.model)"},
                        {"name": "image-repo", "value": "$(params.image-repo)"},
                    ],
                    "workspaces": _ws("source", "dvc-cache", "registry-credentials"),
                },
            ],
            "results": [
                {"name": "commit", "value": "$(tasks.train.results.commit)"},
                {"name": "metrics", "value": "$(tasks.train.results.metrics)"},
                {"name": "model", "value": "$(tasks.promote.results.model)"},
                {"name": "image-digest", "value": "$(tasks.build-serving.results.image-digest)"},
            ],
        },
    }
    sweep = {
        "apiVersion": API,
        "kind": "Pipeline",
        "metadata": {"name": f"{plan.slug}-sweep", "labels": _labels(plan)},
        "spec": {
            "description": f"{plan.name}: one training run per override set, in parallel "
            "(a matrix); each run's metrics are its TaskRun's result. Nothing is promoted.",
            "params": [
                *_pipeline_params(plan),
                _param(
                    "sweep", "One entry per run: its Hydra overrides.", list(plan.sweep), "array"
                ),
            ],
            "workspaces": workspaces[:3],
            "tasks": [
                *_clone_and_data(plan),
                {
                    "name": "train",
                    "runAfter": ["data"],
                    "taskRef": {"name": f"{plan.slug}-train"},
                    "params": [{"name": "run-dir", "value": "sweep"}],
                    "matrix": {"params": [{"name": "overrides", "value": "$(params.sweep[*])"}]},
                    "workspaces": _ws("source", "dvc-cache"),
                },
            ],
        },
    }
    return [lifecycle, sweep]


def _run(plan: ExportPlan, pipeline: str, params: list[dict[str, Any]], registry: bool) -> dict:
    workspaces: list[dict[str, Any]] = [
        {
            "name": "source",
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "2Gi"}},
                }
            },
        },
        {"name": "dvc-cache", "persistentVolumeClaim": {"claimName": f"{plan.slug}-dvc-cache"}},
        {"name": "git-credentials", "secret": {"secretName": plan.secret("git")}},
    ]
    if registry:
        workspaces.append(
            {"name": "registry-credentials", "secret": {"secretName": plan.secret("registry")}}
        )
    return {
        "apiVersion": API,
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{pipeline}-", "labels": _labels(plan)},
        "spec": {
            "pipelineRef": {"name": pipeline},
            "params": params,
            "taskRunTemplate": {
                # OpenShift Pipelines' service account; the pods get an arbitrary uid in group 0
                "serviceAccountName": "pipeline",
                "podTemplate": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    }
                },
            },
            "workspaces": workspaces,
        },
    }


def pvc(plan: ExportPlan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": f"{plan.slug}-dvc-cache", "labels": _labels(plan)},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
    }


def documents(plan: ExportPlan) -> dict[str, list[dict[str, Any]]]:
    """The exported files and their documents."""
    return {
        "tasks.yaml": tasks(plan),
        "pipeline.yaml": pipelines(plan),
        "pipelinerun.yaml": [
            _run(plan, plan.slug, [{"name": "overrides", "value": ""}], registry=True)
        ],
        "sweep-run.yaml": [
            _run(plan, f"{plan.slug}-sweep", [{"name": "sweep", "value": list(plan.sweep)}], False)
        ],
        "pvc.yaml": [pvc(plan)],
    }


HEADER = """\
Written by `mlopsctl export tekton` for {name} (tekton.dev/v1, OpenShift Pipelines).
Every image is pinned by digest; credentials are the Secrets {secrets}, referenced by name.
Check: mlopsctl export check {out} --schema-location CRDS (see docs/export.md).
Install: kubectl apply -f pvc.yaml -f tasks.yaml -f pipeline.yaml
Run: kubectl create -f pipelinerun.yaml"""


def export_tekton(plan: ExportPlan, out: Path, force: bool = False) -> list[Path]:
    secrets = ", ".join(plan.secret(s) for s in ("git", "dvc", "registry"))
    shown = out.resolve()
    if shown.is_relative_to(plan.root.resolve()):
        shown = shown.relative_to(plan.root.resolve())
    header = HEADER.format(name=plan.name, secrets=secrets, out=shown)
    files = {name: dump_yaml(docs, header) for name, docs in documents(plan).items()}
    return write_documents(out, files, force)
