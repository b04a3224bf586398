"""`mlopsctl registry list/history/lineage`: parse, call core.registry, render."""

from __future__ import annotations

from pathlib import Path

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json

registry_app = typer.Typer(
    help="Read the model registry (GTO-format git tags).", no_args_is_help=True
)


@registry_app.command("list")
def list_models(
    as_json: options.Json = False,
) -> None:
    """Each model, its latest version, and the version each stage holds."""

    from mlopsctl.console import console
    from mlopsctl.core.registry.queries import list_registry, registry_root

    listing = list_registry(registry_root(Path.cwd()))
    if as_json:
        print_json({"models": [m.__dict__ for m in listing.models]})
        return
    from rich.table import Table

    if not listing.models:
        console().print("No models yet: declare one in dvc.yaml and `mlopsctl promote` it.")
        return
    table = Table()
    for column in ("model", "latest", *listing.stages):
        table.add_column(column)
    for model in listing.models:
        table.add_row(
            model.name,
            model.latest or "-",
            *(model.stages.get(stage) or "-" for stage in listing.stages),
        )
    console().print(table)


@registry_app.command("history")
def history(
    name: str = typer.Argument(..., help="Model name.", show_default=False),
    as_json: options.Json = False,
) -> None:
    """Every registration, assignment and rollback: when, who, why."""
    from datetime import UTC, datetime

    from mlopsctl.console import console
    from mlopsctl.core.registry.queries import model_history, registry_root

    events = model_history(registry_root(Path.cwd()), name)
    if as_json:
        print_json({"name": name, "events": [e.__dict__ for e in events]})
        return
    from rich.table import Table

    table = Table(title=f"History of {name}", title_justify="left")
    for column in ("time (UTC)", "event", "version", "stage", "author", "reason", "tag"):
        table.add_column(column, overflow="fold")
    for event in events:
        reason = event.reason or ""
        if event.forced:
            reason = f"FORCED past {', '.join(event.failed_gates)}: {reason}"
        table.add_row(
            datetime.fromtimestamp(event.time, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            event.event,
            event.version or "",
            event.stage or "",
            event.author,
            reason,
            event.tag,
        )
    console().print(table)


@registry_app.command("lineage")
def lineage(
    ref: str = typer.Argument(..., help="NAME@vX.Y.Z or NAME#STAGE.", show_default=False),
    as_json: options.Json = False,
) -> None:
    """What made a version: commit, data hashes, params, metrics, model hash."""

    from mlopsctl.console import console
    from mlopsctl.core.export.deploy import deployments
    from mlopsctl.core.registry.queries import registry_root, version_lineage

    root = registry_root(Path.cwd())
    record = version_lineage(root, ref)
    # where the version runs: the overlays in git that pin it (mlopsctl deploy)
    record["deployed"] = [
        {"stage": d.stage, "overlay": d.overlay, "digest": d.digest, "image": d.image}
        for d in deployments(root)
        if d.version == record.get("version")
    ]
    if as_json:
        print_json(record)
        return
    from rich.table import Table

    from mlopsctl.cli.render import fmt

    out = console()
    table = Table(title=f"Lineage of {ref} ({record.get('version')})", title_justify="left")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for key in ("commit", "path", "model_sha256", "model_md5", "params_sha256"):
        table.add_row(key, str(record.get(key)))
    for path, md5 in (record.get("data") or {}).items():
        table.add_row(f"data {path}", f"md5 {md5}")
    for metric, value in (record.get("metrics") or {}).items():
        table.add_row(f"metric {metric}", fmt(value))
    for key in ("by", "at", "mlopsctl_version", "source"):
        if record.get(key):
            table.add_row(key, str(record[key]))
    for place in record["deployed"]:
        table.add_row(f"deployed {place['stage']}", f"{place['overlay']} {place['digest']}")
    out.print(table)
