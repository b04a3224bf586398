"""`mlopsctl push`: parse, call core.image.push, say what was sent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import render_push

if TYPE_CHECKING:
    pass


def push(
    first: str = typer.Argument(
        ..., metavar="[TAR] REF", help="The image tar (default: dist/image.tar), then REF."
    ),
    second: str = typer.Argument(None, metavar="", show_default=False),
    tls_verify: str = typer.Option("true", "--tls-verify", metavar="BOOL", help=options.TLS_HELP),
    as_json: options.Json = False,
) -> None:
    """Push a built image tar to REGISTRY/REPO[:TAG] (blobs the registry has are not sent)."""
    from mlopsctl.core.image.push import push_image

    tar, ref = (Path(first), second) if second else (Path("dist") / "image.tar", first)
    render_push(push_image(tar, ref, tls_verify=options.tls_flag(tls_verify)), as_json)
