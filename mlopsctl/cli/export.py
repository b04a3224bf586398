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

    project = find_project()
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
