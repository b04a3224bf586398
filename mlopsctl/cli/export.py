"""`mlopsctl export ...`: the project's pipeline for a cluster's engine, and `export check`."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mlopsctl.cli import options

app = typer.Typer(
    name="export",
    help="Export the pipeline for a cluster (Tekton, Kubeflow Pipelines) and check it offline.",
    no_args_is_help=True,
)

SCHEMA_ENV = "MLOPSCTL_SCHEMA_LOCATION"


@app.command("check")
def check(
    paths: list[Path] = typer.Argument(
        None, help="Files or folders of YAML documents (default: deploy/).", show_default=False
    ),
    schema_locations: list[Path] = typer.Option(
        None,
        "--schema-location",
        help="A folder of custom resources' JSON schemas, laid out as kubeconform's "
        "{group}/{kind}_{version}.json (repeat it; default: $MLOPSCTL_SCHEMA_LOCATION).",
        show_default=False,
    ),
    kubernetes_version: str = typer.Option(
        "",
        "--kubernetes-version",
        help="Built-in kinds' schemas of this version (default: the newest).",
    ),
    as_json: options.Json = False,
) -> None:
    """Validate every document offline: schemas (strict), references, digests, no secrets."""
    import json

    from rich.markup import escape

    from mlopsctl.console import console, err_console
    from mlopsctl.core.export.check import check as check_documents
    from mlopsctl.errors import CheckFailed

    locations = list(schema_locations or [])
    if not locations and os.environ.get(SCHEMA_ENV):
        locations = [Path(p) for p in os.environ[SCHEMA_ENV].split(os.pathsep) if p]
    report = check_documents(paths or [Path("deploy")], locations, kubernetes_version)
    if as_json:
        console().print_json(
            json.dumps(
                {
                    "ok": report.ok,
                    "files": report.files,
                    "documents": report.documents,
                    "skipped": report.skipped,
                    "problems": [p.to_json() for p in report.problems],
                }
            )
        )
    else:
        err = err_console()
        for problem in report.problems:
            err.print(f"  {escape(str(problem))}", soft_wrap=True)
        if report.ok:
            console().print(
                f"[green]OK[/] {report.documents} documents in {len(report.files)} files",
                soft_wrap=True,
            )
    if not report.ok:
        count = len(report.problems)
        raise CheckFailed(
            f"export check: {count} problem{'s' if count != 1 else ''} in "
            f"{report.documents} documents",
            "fix the documents (or the export that wrote them) and check again",
        )


ENGINES = ("tekton", "kfp")
Out = typer.Option(None, "--out", "-o", help="The folder to write (default: deploy/ENGINE).")
Image = typer.Option(
    None,
    "--image",
    help="The pipeline image, REPO@sha256:... (default: the one `mlopsctl build --kind "
    "pipeline` recorded in dist/pipeline-image.lock.json).",
)
Registry = typer.Option(
    None,
    "--registry",
    help="Where the pipeline pushes the serving image, REGISTRY/REPO "
    "(default: registry in [tool.mlopsctl.export]).",
)
Remote = typer.Option(
    None, "--remote", help="The DVC remote the cluster pulls from (default: the default one)."
)
GitUrl = typer.Option(None, "--git-url", help="The repository to clone (default: origin's URL).")
GitRevision = typer.Option(
    None, "--git-revision", help="The revision to clone (default: the current branch)."
)


def _export(
    engine: str,
    out: Path | None,
    image: str | None,
    registry: str | None,
    remote: str | None,
    git_url: str | None,
    git_revision: str | None,
    force: bool,
    as_json: bool,
) -> None:
    import json

    from mlopsctl.console import console
    from mlopsctl.core.export.plan import plan_export
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    if engine == "kfp":
        from mlopsctl.core.export.kfp import require_kfp

        require_kfp()
    plan = plan_export(
        project.root,
        image=image,
        registry=registry,
        remote=remote,
        git_url=git_url,
        git_revision=git_revision,
    )
    target = out or project.root / "deploy" / engine
    if engine == "tekton":
        from mlopsctl.core.export.tekton import export_tekton

        written = export_tekton(plan, target, force)
    else:
        from mlopsctl.core.export.kfp import export_kfp

        written = export_kfp(plan, target, force)
    if as_json:
        console().print_json(
            json.dumps(
                {
                    "engine": engine,
                    "files": [str(p) for p in written],
                    "image": plan.image,
                    "registry": plan.registry,
                    "git_url": plan.git_url,
                    "git_revision": plan.git_revision,
                    "dvc_remote": plan.dvc_remote,
                    "secrets": [plan.secret(s) for s in ("git", "dvc", "registry")],
                }
            )
        )
        return
    out_console = console()
    out_console.print(f"[green]Wrote[/] {len(written)} files to {target}", soft_wrap=True)
    for path in written:
        out_console.print(f"  {path.name}", soft_wrap=True)
    out_console.print(f"  pipeline image {plan.image}", soft_wrap=True)
    out_console.print(f"  see docs/export.md for the Secrets {plan.secret('git')}, ... to create")


@app.command("tekton")
def tekton(
    out: Path = Out,
    image: str = Image,
    registry: str = Registry,
    remote: str = Remote,
    git_url: str = GitUrl,
    git_revision: str = GitRevision,
    force: options.Overwrite = False,
    as_json: options.Json = False,
) -> None:
    """Tasks, Pipelines and PipelineRuns (tekton.dev/v1) for OpenShift Pipelines."""
    _export("tekton", out, image, registry, remote, git_url, git_revision, force, as_json)


@app.command("kfp")
def kfp(
    out: Path = Out,
    image: str = Image,
    registry: str = Registry,
    remote: str = Remote,
    git_url: str = GitUrl,
    git_revision: str = GitRevision,
    force: options.Overwrite = False,
    as_json: options.Json = False,
) -> None:
    """Kubeflow Pipelines v2 pipelines (OpenShift AI's data science pipelines), compiled."""
    _export("kfp", out, image, registry, remote, git_url, git_revision, force, as_json)


@app.command("serving")
def serving(
    target: str = typer.Option(
        "kserve", "--target", help="kserve (InferenceService) or kubernetes."
    ),
    out: Path = typer.Option(Path("deploy/serving"), "--out", help="The folder to write."),
    name: str = typer.Option(None, "--name", help="The model (default: the project's)."),
    route: bool = typer.Option(False, "--route", help="Add an OpenShift Route (TLS edge)."),
    repo_url: str = typer.Option(
        None,
        "--repo-url",
        help="The git repository Argo CD syncs from (default: remote origin's URL); "
        "a separate GitOps repository works too.",
    ),
    repo_path: str = typer.Option(
        None, "--repo-path", help="The folder's path in that repository (default: --out)."
    ),
    revision: str = typer.Option("HEAD", "--revision", help="The branch Argo CD follows."),
    auto_sync: bool = typer.Option(
        False, "--auto-sync", help="Argo CD syncs by itself (prune, self-heal)."
    ),
    argocd_namespace: str = typer.Option(
        "argocd", "--argocd-namespace", help="Argo CD's namespace (openshift-gitops there)."
    ),
    namespace_prefix: str = typer.Option(
        None, "--namespace-prefix", help="Stage S deploys to PREFIX-S (default: the name)."
    ),
    stages: list[str] = typer.Option(
        None, "--stage", help="Stages to deploy (repeat; default: the promotion stages)."
    ),
    force: options.Overwrite = False,
    as_json: options.Json = False,
) -> None:
    """Kustomize base + one overlay per stage (image pinned by digest) + Argo CD apps."""
    import json
    from dataclasses import asdict

    from mlopsctl.console import console
    from mlopsctl.core import git as vcs
    from mlopsctl.core.export.deploy import SPEC_FILE, export_serving
    from mlopsctl.core.export.serving import ServingSpec
    from mlopsctl.core.model.source import artifact_name
    from mlopsctl.core.project import find_project
    from mlopsctl.core.registry.gates import load_settings
    from mlopsctl.errors import BadInput

    project = find_project(Path.cwd())
    root = project.root
    folder = out if out.is_absolute() else root / out
    if (
        folder.exists()
        and any(folder.iterdir())
        and not (folder / SPEC_FILE).is_file()
        and not force
    ):
        raise BadInput(f"{folder} exists and was not written by mlopsctl", "pass --force")
    url = repo_url or vcs.output(root, "remote", "get-url", "origin")
    if not url:
        raise BadInput("no git remote origin to point Argo CD at", "pass --repo-url URL")
    relative = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(out)
    spec = ServingSpec(
        name=name or artifact_name(root),
        target=target,
        route=route,
        repo_url=url,
        repo_path=repo_path or relative,
        revision=revision,
        auto_sync=auto_sync,
        argocd_namespace=argocd_namespace,
        namespace_prefix=namespace_prefix or "",
        stages=list(stages or load_settings(root, project.primary_metric()).stages),
    )
    result = export_serving(root, spec, folder)
    if as_json:
        console().print_json(
            json.dumps(
                {
                    "out": str(folder),
                    "files": [str(f.relative_to(folder)) for f in result.files],
                    "pins": [asdict(p) for p in result.pins],
                    "unheld": result.unheld,
                }
            )
        )
        return
    show = console()
    show.print(f"[green]Wrote[/] {folder} ({target}, {len(result.files)} files)", soft_wrap=True)
    for pin in result.pins:
        show.print(f"  {pin.stage}: {pin.version} {pin.image}", soft_wrap=True)
    for stage in result.unheld:
        show.print(
            f"  {stage}: nobody holds it, no overlay (mlopsctl promote --to {stage} writes it)",
            soft_wrap=True,
        )
    show.print(f"  render: kustomize build {relative}/overlays/STAGE", soft_wrap=True)
