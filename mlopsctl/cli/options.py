"""The options that several commands share, declared once: the same flag means the same thing
and has the same help everywhere (docs/cli.md lists them)."""

from __future__ import annotations

from typing import Annotated

import typer

# --json: the result as one JSON document on stdout, with a stable shape (docs/cli.md)
Json = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (a stable shape, for scripts).")
]
# --force on a command that writes a file: replace what is there (never without it)
Overwrite = Annotated[bool, typer.Option("--force", help="Replace files that are already there.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show the stages' own output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Only save it; print nothing.")]

# the model that `build` and `serve` mean
MODEL_REF_HELP = (
    "A model folder, a project, NAME@vX.Y.Z or NAME#STAGE (default: this project's models/)."
)


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
