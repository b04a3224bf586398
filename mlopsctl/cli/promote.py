"""`mlopsctl promote` and `mlopsctl rollback`: parse, call core.promote, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json, render_deploy, render_gates

if TYPE_CHECKING:
    from mlopsctl.core.export.deploy import DeployResult


def promote(
    name: str = typer.Argument(
        None,
        help="Model name from dvc.yaml `artifacts:` (default: the only one).",
        show_default=False,
    ),
    to: str = typer.Option(..., "--to", help="Stage to assign (e.g. staging, production)."),
    version: str = typer.Option(
        None, "--version", help="Version to register HEAD as, or an existing version to promote."
    ),
    bump: str = typer.Option(
        None, "--bump", help="major, minor or patch: the next version (default: patch)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Run the gates; write no tag."),
    force: bool = typer.Option(
        False, "--force", help="Promote even if gates fail (needs --reason; both recorded)."
    ),
    reason: str = typer.Option(None, "--reason", help="Why: recorded in the tag message."),
    push: bool = typer.Option(False, "--push", help="Push the new tags to the git remote."),
    as_json: options.Json = False,
) -> None:
    """Run the quality gates, then register the version (if new) and assign the stage."""

    from mlopsctl.console import console
    from mlopsctl.core.project import find_project
    from mlopsctl.core.registry.promote import GatesFailed, PromoteRequest
    from mlopsctl.core.release import promote as run_promote

    request = PromoteRequest(
        stage=to,
        name=name,
        version=version,
        bump=bump,
        dry_run=dry_run,
        force=force,
        reason=reason,
        push=push,
    )
    try:
        result, moved = run_promote(find_project(Path.cwd()), request)
    except GatesFailed as exc:
        if as_json:
            print_json(_result_json(exc.result))
        else:
            render_gates(exc.result.gates, f"{exc.result.name} {exc.result.version} -> {to}")
        raise
    if as_json:
        print_json({**_result_json(result), "deploy": _deploy_json(moved)})
        return
    out = console()
    short = result.commit[:8]
    if not result.written and result.pushed_to:
        out.print(
            f"{result.name} {result.version} ({short}) was already in {result.stage} here; "
            f"finished pushing its tags to {result.pushed_to}: " + ", ".join(result.tags),
            soft_wrap=True,
        )
        return
    render_gates(result.gates, f"{result.name} {result.version} -> {result.stage}")
    if not result.written:
        action = "register and assign" if result.register else "assign"
        out.print(f"dry run: would {action} {result.name} {result.version} ({short}) -> {to}")
        return
    if result.forced:
        out.print("[yellow]forced:[/] failed gates and the reason are recorded in the tag")
    out.print(
        f"[green]Promoted[/] {result.name} {result.version} ({short}) to {result.stage}: "
        + ", ".join(result.tags),
        soft_wrap=True,
    )
    if result.pushed_to:
        out.print(f"  pushed to {result.pushed_to}")
    if moved is not None:
        render_deploy(moved, as_json=False)


def _deploy_json(moved: DeployResult | None) -> dict[str, object] | None:
    from dataclasses import asdict

    return asdict(moved) if moved is not None else None


def rollback(
    name: str = typer.Argument(..., help="Model name.", show_default=False),
    stage: str = typer.Option("production", "--stage", help="Stage to roll back."),
    reason: str = typer.Option(None, "--reason", help="Why: recorded in the tag message."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would happen; write no tag."),
    push: bool = typer.Option(False, "--push", help="Push the new tag to the git remote."),
    as_json: options.Json = False,
) -> None:
    """Put the stage's previous holder back (a new assignment tag; history is kept)."""
    from dataclasses import asdict

    from mlopsctl.console import console
    from mlopsctl.core.project import find_project
    from mlopsctl.core.release import rollback as run_rollback

    result, moved = run_rollback(
        find_project(Path.cwd()), name, stage, reason=reason, push=push, dry_run=dry_run
    )
    if as_json:
        print_json({**asdict(result), "deploy": _deploy_json(moved)})
        return
    verb = "Rolled back" if result.written else "dry run: would roll back"
    console().print(
        f"[green]{verb}[/] {result.name} {result.stage}: {result.from_version} -> "
        f"{result.to_version} ({result.commit[:8]}) " + ", ".join(result.tags),
        soft_wrap=True,
    )
    if result.pushed_to:
        console().print(f"  pushed to {result.pushed_to}")
    if moved is not None:
        render_deploy(moved, as_json=False)


def _result_json(result: object) -> dict[str, object]:
    from dataclasses import asdict

    values = asdict(result)  # type: ignore[call-overload]
    values["passed"] = getattr(result, "passed", None)
    return values
