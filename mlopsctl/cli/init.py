"""`mlopsctl init PATH`: parse, call core.scaffold, render the result."""

from __future__ import annotations

from pathlib import Path

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json


def init(
    path: Path = typer.Argument(..., help="Folder to create the project in.", show_default=False),
    name: str = typer.Option(None, "--name", help="Project name (default: from PATH)."),
    package: str = typer.Option(None, "--package", help="Python package (default: from name)."),
    template: str = typer.Option("tabular-classification", "--template", help="Project template."),
    remote: str = typer.Option(
        None,
        "--remote",
        help="Shared DVC remote URL (s3://, gs://, ssh://, a path) (default: a local folder).",
    ),
    no_input: bool = typer.Option(False, "--no-input", help="Use defaults; never prompt."),
    force: bool = typer.Option(
        False, "--force", help="Write into a non-empty folder (other files are kept)."
    ),
    hooks: bool = typer.Option(True, "--hooks/--no-hooks", help="Run `pre-commit install`."),
    run_pipeline: bool = typer.Option(
        False,
        "--run",
        help="Also run the pipeline once and commit the baseline model's dvc.lock and metrics.",
    ),
    as_json: options.Json = False,
) -> None:
    """Scaffold a project: git + DVC + Hydra + pipeline + tests + pre-commit + CI."""

    from mlopsctl.console import console, err_console
    from mlopsctl.core.scaffold import InitOptions, init_project

    options = InitOptions(
        dest=path,
        name=name,
        package=package,
        template=template,
        remote=remote,
        no_input=no_input,
        force=force,
        install_hooks=hooks,
        run_pipeline=run_pipeline,
    )
    err = err_console()
    quiet = as_json or not err.is_terminal
    with err.status("initialising", spinner="dots") if not quiet else _nullcontext() as status:

        def progress(step: str) -> None:
            if status is not None:
                status.update(step)

        result = init_project(options, progress)

    if as_json:
        print_json(
            {
                "path": str(result.path),
                "name": result.name,
                "package": result.package,
                "template": result.template,
                "remote": result.remote_url,
                "commit": result.commit,
                "data": result.data_files,
                "hooks_installed": result.hooks_installed,
                "warnings": result.warnings,
                "timings": result.timings,
            }
        )
        return
    out = console()
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    out.print(
        f"[green]Created[/] {result.name} in {result.path} (commit {result.commit[:8]})",
        soft_wrap=True,
    )
    out.print(
        f"  data: {', '.join(result.data_files)} -> DVC remote {result.remote_url}", soft_wrap=True
    )
    out.print("Next:")
    try:
        shown = result.path.relative_to(Path.cwd())
    except ValueError:
        shown = result.path
    out.print(f"  cd {shown}")
    if run_pipeline:
        out.print("  mlopsctl evaluate   # the baseline model's metrics and plots")
    else:
        out.print("  mlopsctl train      # validate -> prepare -> train -> evaluate")
    out.print("  mlopsctl train model=random_forest   # try another model (Hydra overrides)")
    out.print("  pytest              # the project's own tests")


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
