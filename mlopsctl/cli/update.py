"""`mlopsctl update`: parse, call core.update, show what changed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlopsctl.cli import options

if TYPE_CHECKING:
    from mlopsctl.core.update import UpdateResult


def update(
    to: str | None = typer.Option(
        None, "--to", help="Template version to take (an mlopsctl version); default: this one."
    ),
    from_version: str | None = typer.Option(
        None,
        "--from",
        help="The mlopsctl version the project was made with (for projects that record none).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; touch nothing."),
    commit: bool = typer.Option(
        False, "--commit", help="Commit the update (when there are no conflicts)."
    ),
    as_json: options.Json = False,
) -> None:
    """Take a newer template into this project, keeping your changes (copier's update).

    The result is staged (or committed with --commit). Conflicts exit 1."""
    from mlopsctl.core.update import UpdateOptions, update_project
    from mlopsctl.errors import CheckFailed

    result = update_project(
        UpdateOptions(Path.cwd(), to=to, from_version=from_version, dry_run=dry_run, commit=commit)
    )
    if as_json:
        _print_json(result)
    else:
        _render(result)
    if result.conflicts and not dry_run:
        raise CheckFailed(
            f"{len(result.conflicts)} file(s) in conflict: {', '.join(result.conflicts)}",
            "resolve the <<<<<<< markers (and .rej files), `git add` them, then `git commit`",
        )


def _render(result: UpdateResult) -> None:
    from rich.markup import escape

    from mlopsctl.console import console

    out = console()
    if result.up_to_date:
        out.print(f"Up to date: template {result.template} {result.to_commit}.", soft_wrap=True)
        return
    verb = "Would update" if result.dry_run else "Updated"
    out.print(
        f"{verb} template {result.template}: {result.from_commit} -> {result.to_commit}",
        soft_wrap=True,
    )
    conflicts = set(result.conflicts)
    for mark, paths in (("added", result.added), ("changed", result.changed)):
        for path in paths:
            kind = "[red]conflict[/]" if path in conflicts else mark
            out.print(f"  {kind:>8}  {escape(path)}", soft_wrap=True)
    for path in result.removed:
        out.print(f"  removed   {escape(path)}", soft_wrap=True)
    if result.dry_run:
        out.print(escape(result.diffstat.rstrip()), soft_wrap=True)
        out.print("Dry run: nothing was changed.")
    elif result.commit:
        out.print(f"Committed {result.commit[:8]}.")
    elif not conflicts:
        out.print("Staged: review with `git diff --cached`, then `git commit`.")


def _print_json(result: UpdateResult) -> None:
    import json
    from dataclasses import asdict

    from mlopsctl.console import console

    values = asdict(result)
    values["project"] = str(result.project)
    values.pop("diffstat")
    values["up_to_date"] = result.up_to_date
    console().print_json(json.dumps(values))
