"""Rendering shared by the run commands: stage progress and metrics tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from mlopsctl.core.pipeline.run import StageEvent


class StageProgress:
    """Prints each stage as it starts, finishes or is skipped (plain lines: fine in CI logs)."""

    def __init__(self, verbose: bool = False) -> None:
        from mlopsctl.console import err_console

        self.out = err_console()
        self.verbose = verbose

    def __call__(self, event: StageEvent) -> None:
        from rich.markup import escape

        if event.kind == "experiment":
            self.out.print(f"[bold]experiment[/] {escape(event.line)}")
        elif event.kind == "start":
            self.out.print(f"[cyan]>[/] {event.stage} running")
        elif event.kind == "done":
            self.out.print(f"[green]✓[/] {event.stage} done in {event.seconds:.1f}s")
        elif event.kind == "cached":
            self.out.print(f"[dim]- {event.stage} cached (unchanged, skipped)[/]")
        elif event.kind == "restored":
            self.out.print(f"[green]✓[/] {event.stage} restored from DVC's run-cache")
        elif event.kind == "failed":
            self.out.print(f"[red]✗[/] {event.stage} failed")
        elif event.kind == "note":
            self.out.print(f"[yellow]note:[/] {escape(event.line)}", soft_wrap=True)
        elif self.verbose and event.line.strip():
            self.out.print(f"[dim]  {escape(event.line)}[/]", soft_wrap=True)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return f"[{len(value)} items]" if len(value) > 4 else str(value)
    return "-" if value is None else str(value)


def fmt_param(value: Any) -> str:
    """Params as written in the config (0.1, not 0.1000)."""
    return fmt(value) if not isinstance(value, float) else repr(value)


def delta(new: Any, old: Any) -> str:
    if isinstance(new, int | float) and isinstance(old, int | float) and not isinstance(new, bool):
        diff = new - old
        if abs(diff) < 1e-12:
            return "[dim]0[/]"
        colour = "green" if diff > 0 else "red"
        return f"[{colour}]{diff:+.4f}[/]"
    return "" if old is None else ("[dim]=[/]" if new == old else "changed")


def metrics_table(
    metrics: dict[str, Any], baselines: list[tuple[str, dict[str, Any]]], primary: str
) -> Table:
    """The metrics, then for each baseline that has metrics its values and the change."""
    from rich.table import Table

    baselines = [(name, values) for name, values in baselines if values]
    table = Table(title="Metrics", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, _ in baselines:
        table.add_column(name, justify="right")
        table.add_column("change", justify="right")
    keys = set(metrics).union(*(values for _, values in baselines))
    for key in sorted(keys, key=lambda k: (k != primary, k)):
        label = f"[bold]{key}[/] (primary)" if key == primary else key
        row = [label, fmt(metrics.get(key))]
        for _, values in baselines:
            row += [fmt(values.get(key)), delta(metrics.get(key), values.get(key))]
        table.add_row(*row)
    return table
