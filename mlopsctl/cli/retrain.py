"""`mlopsctl retrain`: parse, call core.retrain, render each step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json

if TYPE_CHECKING:
    from mlopsctl.core.retrain import RetrainResult, RetrainStep


def retrain(
    data: Path = typer.Option(..., "--data", help="The new data (CSV or Parquet)."),
    to: str = typer.Option("staging", "--to", help="Stage to promote the new model to."),
    append: bool = typer.Option(
        False, "--append", help="Append the rows to the raw data instead of replacing it."
    ),
    if_drift: bool = typer.Option(
        False, "--if-drift", help="Go on only if the new data drifted from the training data."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the stages' output."),
    as_json: options.Json = False,
) -> None:
    """New data in, validated, trained, committed and promoted — all or nothing (cron, CI)."""

    from mlopsctl.cli.render import StageProgress, render_gates
    from mlopsctl.console import console
    from mlopsctl.core.project import find_project
    from mlopsctl.core.retrain import RetrainFailed
    from mlopsctl.core.retrain import retrain as run_retrain

    project = find_project(Path.cwd())
    try:
        result = run_retrain(
            project,
            data,
            stage=to,
            append=append,
            if_drift=if_drift,
            on_step=(lambda step: None) if as_json else _print_step,
            on_event=(lambda event: None) if as_json else StageProgress(verbose),
        )
    except RetrainFailed as exc:
        if as_json:
            print_json(_as_dict(exc.result))
        elif exc.result.promotion is None and hasattr(exc.cause, "result"):
            render_gates(exc.cause.result.gates, f"{exc.cause.result.name} -> {to}")
        raise
    if as_json:
        print_json(_as_dict(result))
        return
    out = console()
    if result.outcome == "unchanged":
        out.print("Nothing changed: the project already holds this data; no commit, no version.")
    elif result.outcome == "no-drift":
        out.print("No drift, nothing to do.")
    elif result.promotion is not None:
        render_gates(result.promotion.gates, f"{result.promotion.name} -> {to}")
        out.print(
            f"[green]Retrained[/] on {data}: commit {(result.commit or '')[:8]}, "
            f"{result.promotion.name} {result.promotion.version} in {to} "
            f"({', '.join(result.promotion.tags)})",
            soft_wrap=True,
        )


def _print_step(step: RetrainStep) -> None:
    from rich.markup import escape

    from mlopsctl.console import err_console

    mark = {"done": "[green]✓[/]", "skipped": "[dim]-[/]", "failed": "[red]✗[/]"}[step.status]
    err_console().print(f"{mark} {step.step}: {escape(step.detail)}", soft_wrap=True)


def _as_dict(result: RetrainResult) -> dict[str, Any]:
    from dataclasses import asdict

    values = asdict(result)
    if result.promotion is not None:
        values["promotion"]["passed"] = result.promotion.passed
    return values
