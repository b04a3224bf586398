"""`mlopsctl data ...`: version data with DVC, infer and check schemas, profile datasets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json

if TYPE_CHECKING:
    from mlopsctl.core.data.schema import ValidationReport

app = typer.Typer(
    name="data",
    help="Version data with DVC, infer and check schemas (pandera), profile datasets.",
    no_args_is_help=True,
)

REMOTE_HELP = "DVC remote to use (default: the project's default remote)."


def _progress(as_json: bool) -> bool:
    from mlopsctl.console import err_console

    return not as_json and err_console().is_terminal


@app.command("add")
def add(
    paths: list[Path] = typer.Argument(..., help="Files or folders to track.", show_default=False),
    as_json: options.Json = False,
) -> None:
    """Track files or folders with DVC and stage their .dvc pointers in git."""

    from mlopsctl.console import console
    from mlopsctl.core.data.versioning import add_data
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    result = add_data(project.root, paths, progress=_progress(as_json))
    if as_json:
        print_json(result)
        return
    out = console()
    for path in result.added:
        out.print(f"[green]Tracking[/] {path} with DVC", soft_wrap=True)
    out.print(f"Staged in git: {' '.join(result.staged)}", soft_wrap=True)
    out.print("Next: git commit, then `mlopsctl data push` to share the data")


@app.command("status")
def status(
    remote: str = typer.Option(None, "--remote", "-r", help=REMOTE_HELP),
    as_json: options.Json = False,
) -> None:
    """What changed in the workspace, and what the remote does not have yet."""
    from dataclasses import asdict

    from mlopsctl.console import console
    from mlopsctl.core.data.versioning import data_status
    from mlopsctl.core.project import find_project

    result = data_status(find_project(Path.cwd()).root, remote)
    if as_json:
        print_json({**asdict(result), "clean": result.clean})
        return
    out = console()
    if result.clean:
        out.print(f"Data is up to date in the workspace, in git and in remote {result.remote!r}.")
        return
    sections = [
        ("Changed in the workspace (run `mlopsctl data add PATH`)", result.workspace),
        ("Added, not committed to git (git commit)", result.uncommitted),
    ]
    for title, changes in sections:
        if changes:
            out.print(f"[bold]{title}[/]")
            for kind, paths in changes.items():
                for path in paths:
                    out.print(f"  {kind}: {path}", soft_wrap=True)
    if result.not_in_cache:
        out.print("[bold]Not in the cache (`mlopsctl data pull`, or `dvc repro`)[/]")
        for path in result.not_in_cache:
            out.print(f"  {path}", soft_wrap=True)
    if result.not_in_remote:
        out.print(f"[bold]Not in remote {result.remote!r} yet (`mlopsctl data push`)[/]")
        for path in result.not_in_remote:
            out.print(f"  {path}", soft_wrap=True)


@app.command("push")
def push(
    remote: str = typer.Option(None, "--remote", "-r", help=REMOTE_HELP),
    as_json: options.Json = False,
) -> None:
    """Upload the project's data (and cached pipeline outputs) to the DVC remote."""

    from mlopsctl.console import console
    from mlopsctl.core.data.versioning import push_data
    from mlopsctl.core.project import find_project

    result = push_data(find_project(Path.cwd()).root, remote, progress=_progress(as_json))
    if as_json:
        print_json(result)
        return
    console().print(
        f"Pushed {result.files} file{'s' if result.files != 1 else ''} to remote "
        f"{result.remote!r} ({result.url})",
        soft_wrap=True,
    )


@app.command("pull")
def pull(
    remote: str = typer.Option(None, "--remote", "-r", help=REMOTE_HELP),
    as_json: options.Json = False,
) -> None:
    """Download the project's data (and pushed pipeline outputs) from the DVC remote."""

    from mlopsctl.console import console
    from mlopsctl.core.data.versioning import pull_data
    from mlopsctl.core.project import find_project

    result = pull_data(find_project(Path.cwd()).root, remote, progress=_progress(as_json))
    if as_json:
        print_json(result)
        return
    out = console()
    out.print(
        f"Pulled {result.files} file{'s' if result.files != 1 else ''} from remote "
        f"{result.remote!r} ({result.url})",
        soft_wrap=True,
    )
    if result.not_pulled:
        out.print(
            f"Not in any remote yet, `dvc repro` makes them: {', '.join(result.not_pulled)}",
            soft_wrap=True,
        )


@app.command("schema")
def schema(
    path: Path = typer.Argument(..., help="CSV or Parquet dataset.", show_default=False),
    name: str = typer.Option(None, "--name", help="Schema name (default: the file's stem)."),
    force: options.Overwrite = False,
    as_json: options.Json = False,
) -> None:
    """Infer a tightened pandera schema and write it to data/schemas/NAME.yaml."""
    from mlopsctl.console import console
    from mlopsctl.core.data.schema import write_schema
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    out, inferred = write_schema(project.root, path, name, force)
    if as_json:
        print_json({"path": str(out), "schema": inferred})
        return
    columns = inferred["columns"]
    bounded = sum(1 for c in columns.values() if "less_than_or_equal_to" in c)
    categories = sum(1 for c in columns.values() if "isin" in c)
    nullable = sum(1 for c in columns.values() if c.get("nullable"))
    console().print(
        f"[green]Wrote[/] {out.relative_to(project.root)}: {len(columns)} columns "
        f"({bounded} with bounds, {categories} with allowed values, {nullable} nullable); "
        "strict, no coercion. Review it and commit it.",
        soft_wrap=True,
    )


@app.command("validate")
def validate(
    path: Path = typer.Argument(
        None, help="Dataset (default: every dataset that has a schema).", show_default=False
    ),
    schema_file: Path = typer.Option(
        None, "--schema", help="Schema YAML (default: the one in data/schemas/ for PATH)."
    ),
    report: Path = typer.Option(None, "--report", help="Also write the result as JSON here."),
    as_json: options.Json = False,
) -> None:
    """Check data against its schema: every failure at once; exit 1 if any."""
    import json
    from dataclasses import asdict

    from mlopsctl.core.data.schema import require_valid, validate_datasets
    from mlopsctl.core.files import write_atomic

    reports = validate_datasets(path, schema_file, Path.cwd())
    payload = {
        "valid": all(r.valid for r in reports),
        "datasets": [{**asdict(r), "valid": r.valid} for r in reports],
    }
    if report is not None:
        write_atomic(report, json.dumps(payload, indent=2, default=str) + "\n")
    if as_json:
        print_json(payload)
    else:
        for item in reports:
            _render_report(item)
    require_valid(reports)


def _render_report(report: ValidationReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mlopsctl.console import console

    out = console()
    if report.valid:
        out.print(
            f"[green]valid[/] {report.data}: {report.rows} rows x {report.columns} columns "
            f"match {report.schema}",
            soft_wrap=True,
        )
        return
    table = Table(title=f"{report.data} against {report.schema}", title_justify="left")
    for column in ("column", "check", "count", "examples", "rows"):
        table.add_column(
            column,
            justify="right" if column == "count" else "left",
            overflow="fold",
            no_wrap=column == "column",
        )
    for failure in report.failures:
        table.add_row(
            escape(failure.column or "-"),
            escape(failure.check),
            str(failure.count),
            escape(", ".join(repr(v) for v in failure.examples)),
            ", ".join(str(r) for r in failure.rows),
        )
    _print_table(table)


@app.command("profile")
def profile(
    path: Path = typer.Argument(..., help="CSV or Parquet dataset.", show_default=False),
    output: Path = typer.Option(
        None, "--output", "-o", help="Where to save the JSON (default: reports/profiles/STEM.json)."
    ),
    force: options.Overwrite = False,
    as_json: options.Json = False,
    quiet: options.Quiet = False,
) -> None:
    """Per-column statistics, shown as a table and saved as JSON (drift's reference)."""
    from mlopsctl.console import console
    from mlopsctl.core.data.profile import profile_data, write_profile

    result = profile_data(path, shown_as=path.as_posix())
    out_path = output or Path("reports") / "profiles" / f"{path.name.split('.')[0]}.json"
    write_profile(result, out_path, force=force)
    if as_json:
        print_json(result)
        return
    if quiet:
        return
    _render_profile(result)
    console().print(f"Saved to {out_path}", soft_wrap=True)


def _render_profile(result: dict[str, Any]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    columns = result["columns"]
    categorical = any(stats["kind"] != "numeric" for stats in columns.values())
    headers = ["column", "type", "count", "missing", "unique", "mean", "std", "p50"]
    headers += ["top values"] if categorical else []
    table = Table(
        title=f"{result['data']}: {result['rows']} rows",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in headers:
        table.add_column(
            header,
            justify="left" if header in ("column", "type", "top values") else "right",
            no_wrap=header == "column",
            overflow="fold",
        )
    for name, stats in columns.items():
        numeric = stats["kind"] == "numeric"
        quantiles = stats.get("quantiles") or {}
        row = [
            escape(name),
            stats["dtype"],
            str(stats["count"]),
            str(stats["missing"]),
            str(stats["unique"]),
            _fmt(stats.get("mean")) if numeric else "",
            _fmt(stats.get("std")) if numeric else "",
            _fmt(quantiles.get("0.5")) if numeric else "",
        ]
        if categorical:
            top = stats.get("top", [])[:3]
            row.append(escape(", ".join(f"{t['value']} ({t['count']})" for t in top)))
        table.add_row(*row)
    _print_table(table)


def _print_table(table: Any) -> None:
    """Piped output has no terminal width to fit: give the table what it needs (to a limit)."""
    from mlopsctl.console import console

    out = console()
    if out.is_terminal:
        out.print(table)
        return
    width = out.width
    out.width = 200
    try:
        out.print(table)
    finally:
        out.width = width


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
