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
