"""`mlopsctl reproduce NAME@vX.Y.Z|NAME#STAGE`: parse, call core.reproduce, render."""

from __future__ import annotations

from pathlib import Path

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json


def reproduce(
    ref: str = typer.Argument(..., help="NAME@vX.Y.Z or NAME#STAGE.", show_default=False),
    as_json: options.Json = False,
) -> None:
    """Rebuild a registered model from scratch in a temporary worktree and compare it."""
    from dataclasses import asdict

    from mlopsctl.console import console, err_console
    from mlopsctl.core.project import find_project
    from mlopsctl.core.registry.reproduce import reproduce as run_reproduce

    project = find_project(Path.cwd())
    from mlopsctl.errors import CheckFailed

    err = err_console()
    quiet = as_json or not err.is_terminal
    if quiet:
        result = run_reproduce(project, ref)
    else:
        with err.status("reproducing", spinner="dots") as status:
            result = run_reproduce(project, ref, progress=status.update)
    out = console()
    if as_json:
        print_json({**asdict(result), "identical": result.identical})
    elif result.identical:
        out.print(
            f"[green]identical[/]: {result.name} {result.version} ({result.commit[:8]}) rebuilt "
            f"from scratch gives the same {result.path} (sha256 {result.rebuilt_sha256}) "
            "and the same metrics",
            soft_wrap=True,
        )
    else:
        out.print(f"{result.name} {result.version} ({result.commit[:8]}) [red]differs[/]:")
        for diff in result.differences:
            out.print(
                f"  {diff.what}: registered {diff.registered}, rebuilt {diff.rebuilt}",
                soft_wrap=True,
            )
    if not result.identical:
        raise CheckFailed(
            f"{result.name} {result.version} does not reproduce: "
            + ", ".join(d.what for d in result.differences),
            "the pipeline is not deterministic (unseeded randomness, time, unpinned "
            "packages?); fix it and register a new version",
        )
