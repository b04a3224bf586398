"""`mlopsctl report`: parse, call core.report, say where the files went."""

from __future__ import annotations

from pathlib import Path

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json


def report(
    output: Path = typer.Option(
        None, "--output", "-o", help="Folder for report.md and report.html (default: reports/)."
    ),
    rev: str = typer.Option(
        "HEAD", "--rev", help="Compare the workspace's metrics with this commit or experiment."
    ),
    as_json: options.Json = False,
) -> None:
    """Write a Markdown report (for CI) and an offline HTML page: metrics, params, plots."""

    from mlopsctl.console import console
    from mlopsctl.core.pipeline.report import show_change, show_value, write_report
    from mlopsctl.core.project import find_project

    written = write_report(find_project(Path.cwd()), output, rev)
    result = written.report
    if as_json:
        print_json(
            {
                "markdown": str(written.markdown),
                "html": str(written.html),
                "project": result.project,
                "commit": result.commit,
                "dirty": result.dirty,
                "rev": result.rev,
                "rev_commit": result.rev_commit,
                "primary_metric": result.primary_metric,
                "metrics": {
                    row.name: {
                        "value": row.value,
                        "rev_value": row.rev_value,
                        "change": row.change,
                        "direction": row.direction,
                        "better": row.better,
                    }
                    for row in result.metrics
                },
                "images": result.images,
            }
        )
        return
    from rich.markup import escape

    out = console()
    files = f"{escape(_shown(written.markdown))} and {escape(_shown(written.html))}"
    out.print(f"[green]Wrote[/] {files}", soft_wrap=True)
    for row in result.metrics:
        change = f" ({show_change(row)} vs {rev})" if result.rev_has_metrics else ""
        out.print(escape(f"  {row.name}: {show_value(row.value)}{change}"), soft_wrap=True)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
