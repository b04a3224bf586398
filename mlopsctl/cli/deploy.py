"""`mlopsctl deploy STAGE`: move the stage's overlay to its registry holder's digest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import render_deploy

if TYPE_CHECKING:
    pass


def deploy(
    stage: str = typer.Argument(..., help="The stage (its overlay in deploy/serving/overlays)."),
    name: str = typer.Option(None, "--name", help="The model (default: the exported one)."),
    out: Path = typer.Option(Path("deploy/serving"), "--out", help="The exported folder."),
    push: bool = typer.Option(False, "--push", help="Push the commit to the git remote."),
    as_json: options.Json = False,
) -> None:
    """Pin the stage's overlay to the image of the version holding the stage, in one commit."""
    from mlopsctl.core.export.deploy import deploy as run_deploy
    from mlopsctl.core.registry.queries import registry_root

    render_deploy(
        run_deploy(registry_root(Path.cwd()), stage, name=name, out=out, push=push), as_json
    )
