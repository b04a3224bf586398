"""`mlopsctl push`: parse, call core.image.push, say what was sent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlopsctl.cli import options

if TYPE_CHECKING:
    from mlopsctl.core.image.push import PushResult

TLS_HELP = "true or false: verify the registry's TLS certificate (false also allows plain HTTP)."


def tls_flag(value: str) -> bool:
    """`--tls-verify=false` as skopeo and podman spell it."""
    from mlopsctl.errors import BadInput

    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise BadInput(f"--tls-verify={value}: expected true or false", "e.g. --tls-verify=false")


def push(
    first: str = typer.Argument(
        ..., metavar="[TAR] REF", help="The image tar (default: dist/image.tar), then REF."
    ),
    second: str = typer.Argument(None, metavar="", show_default=False),
    tls_verify: str = typer.Option("true", "--tls-verify", metavar="BOOL", help=TLS_HELP),
    as_json: options.Json = False,
) -> None:
    """Push a built image tar to REGISTRY/REPO[:TAG] (blobs the registry has are not sent)."""
    from mlopsctl.core.image.push import push_image

    tar, ref = (Path(first), second) if second else (Path("dist") / "image.tar", first)
    render_push(push_image(tar, ref, tls_verify=tls_flag(tls_verify)), as_json)


def render_push(result: PushResult, as_json: bool) -> None:
    import json
    from dataclasses import asdict

    from mlopsctl.console import console

    if as_json:
        values = asdict(result)
        values["lock"] = str(result.lock) if result.lock else None
        console().print_json(json.dumps(values))
        return
    out = console()
    out.print(f"[green]Pushed[/] {result.ref}@{result.digest}", soft_wrap=True)
    out.print(
        f"  {len(result.sent)} blobs sent ({result.bytes_sent / 1e6:.1f} MB), "
        f"{len(result.skipped)} already there",
        soft_wrap=True,
    )
