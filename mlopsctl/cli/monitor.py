"""`mlopsctl monitor drift`: parse, call core.drift, render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json

if TYPE_CHECKING:
    from mlopsctl.core.monitor.drift import DriftResult

app = typer.Typer(
    name="monitor",
    help="Watch the model's data: drift between live data and the training data.",
    no_args_is_help=True,
)

BIG_INPUT = 50 * 1024 * 1024  # bytes: show progress while reading more than this


@app.command("drift")
def drift(
    current: Path = typer.Option(
        ...,
        "--current",
        help="Current data: a CSV/Parquet file, a folder of them, or the prediction log folder.",
    ),
    reference: Path = typer.Option(
        None,
        "--reference",
        help="A profile (.json) or a dataset [default: the project's data.reference_profile].",
    ),
    method: str = typer.Option(
        None, "--method", help="ks, chi2 or psi instead of Wasserstein / Jensen-Shannon."
    ),
    threshold: float = typer.Option(
        None,
        "--threshold",
        help="Per-column threshold: a distance, or the p-value level for ks/chi2 "
        "(before the Bonferroni correction).",
    ),
    share: float = typer.Option(
        None, "--share", help="Dataset drift when this share of columns drifts [default: 0.5]."
    ),
    ignore: list[str] = typer.Option(
        None, "--ignore", help="A column to leave out (repeatable).", show_default=False
    ),
    sample: int = typer.Option(
        500_000, "--sample", help="Compare a uniform sample of at most this many rows (0: all)."
    ),
    report: Path = typer.Option(
        None, "--report", help="Write DIR/drift.html and PNG histograms of drifted columns."
    ),
    as_json: options.Json = False,
) -> None:
    """Compare current data with the training data, column by column. Exit 1 on dataset drift."""
    from dataclasses import replace

    from mlopsctl.console import console
    from mlopsctl.core.monitor import drift as core
    from mlopsctl.errors import BadInput, CheckFailed

    defaults = core.project_defaults(Path.cwd())
    settings = core.load_settings(defaults.root)
    if method is not None and method not in core.METHODS[1:]:
        raise BadInput(f"unknown --method {method!r}", "choose ks, chi2 or psi")
    if share is not None and not 0 < share <= 1:
        raise BadInput(f"--share {share} is not in (0, 1]", "give a share like 0.5")
    if threshold is not None and not threshold >= 0:
        raise BadInput(
            f"--threshold {threshold} is negative",
            "give a distance (>= 0) or, for ks and chi2, a p-value level in (0, 1)",
        )
    if report is not None and report.exists() and not report.is_dir():
        raise BadInput(
            f"--report {report} is a file, not a folder",
            "give a folder: the report is DIR/drift.html with its PNG images beside it",
        )
    if sample < 0:
        raise BadInput("--sample cannot be negative", "give a number of rows, or 0 for all")
    settings = replace(
        settings,
        method=method or settings.method,
        threshold=settings.threshold if threshold is None else threshold,
        share=settings.share if share is None else share,
        ignore=(*settings.ignore, *(ignore or [])),
    )
    if reference is None:
        if defaults.reference is None:
            raise BadInput(
                "no reference: not inside a project",
                "give --reference PROFILE.json or a reference dataset",
            )
        reference = defaults.reference
    with _progress(current, as_json) as on_progress:
        result, ref, frame = core.check_drift(
            current,
            reference,
            settings,
            sample=sample,
            on_progress=on_progress,
            optional=(defaults.target,) if defaults.target else (),
        )
    page = None
    if report is not None:
        from mlopsctl.core.monitor.report import write_report

        page = write_report(result, ref, frame, report)
    if as_json:
        print_json(result.to_dict())
    else:
        _render(result)
        if page is not None:
            console().print(f"Report: {page}", soft_wrap=True)
    if result.dataset_drift:
        raise CheckFailed(
            f"dataset drift: {len(result.drifted_columns)} of {len(result.columns)} columns "
            f"drifted (share {result.share:.2f} >= {result.share_threshold:g})",
            "look at the drifted columns; retrain on recent data: mlopsctl retrain --data PATH",
        )


class _progress:
    """Rows read so far, on a terminal, for inputs big enough to wait for."""

    def __init__(self, current: Path, as_json: bool) -> None:
        from mlopsctl.console import err_console

        size = (
            sum(p.stat().st_size for p in current.rglob("*") if p.is_file())
            if current.is_dir()
            else (current.stat().st_size if current.is_file() else 0)
        )
        self.live = not as_json and err_console().is_terminal and size > BIG_INPUT
        self.status = None

    def __enter__(self) -> object:
        if not self.live:
            return lambda rows: None
        from mlopsctl.console import err_console

        self.status = err_console().status("reading current data")
        self.status.__enter__()
        return lambda rows: self.status.update(f"reading current data: {rows:,} rows")

    def __exit__(self, *exc: object) -> None:
        if self.status is not None:
            self.status.__exit__(*exc)


def _render(result: DriftResult) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from mlopsctl.console import console

    table = Table(
        title=f"Drift: {escape(result.current)} vs {escape(result.reference)}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for header in ("column", "type", "method", "score", "threshold", "drifted", "note"):
        table.add_column(header, overflow="fold")
    for c in result.columns:
        score = "-" if c.score is None else f"{c.score:.4g}"
        mark = "[bold red]yes[/]" if c.drifted else "no"
        table.add_row(
            escape(c.column), c.kind, c.method, score, f"{c.threshold:.4g}", mark, escape(c.note)
        )
    out = console()
    out.print(table)
    sampled = (
        f", {result.rows_compared:,} sampled" if result.rows_compared < result.rows_current else ""
    )
    out.print(
        f"{result.rows_current:,} current rows{sampled}; reference {result.rows_reference:,} rows",
        soft_wrap=True,
    )
    if result.extra:
        out.print(
            f"[yellow]not in the reference (not compared):[/] {escape(', '.join(result.extra))}"
        )
    verdict = "[bold red]Dataset drift[/]" if result.dataset_drift else "[green]No dataset drift[/]"
    out.print(
        f"{verdict}: {len(result.drifted_columns)} of {len(result.columns)} columns drifted "
        f"(share {result.share:.2f}, threshold {result.share_threshold:g})"
    )
