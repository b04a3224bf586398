"""Rendering shared by the commands: stage progress, metrics tables, gate tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from mlopsctl.core.data.infer import DataPlan
    from mlopsctl.core.export.deploy import DeployResult
    from mlopsctl.core.image.push import PushResult
    from mlopsctl.core.pipeline.run import StageEvent
    from mlopsctl.core.registry.gates import GateResult


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
    """A value in a table: numbers in the one metric format (core.pipeline.metrics)."""
    from mlopsctl.core.pipeline.metrics import format_number

    if isinstance(value, list):
        return f"[{len(value)} items]" if len(value) > 4 else str(value)
    return format_number(value)


def fmt_param(value: Any) -> str:
    """Params as written in the config (0.1, not 0.1000)."""
    return fmt(value) if not isinstance(value, float) else repr(value)


def delta(new: Any, old: Any, direction: str = "maximize") -> str:
    """The change from `old` to `new`: green when it is better in the metric's direction
    (lower for a metric to minimize), red when worse."""
    from mlopsctl.core.pipeline.metrics import better, format_change, is_number

    if is_number(new) and is_number(old):
        diff = new - old
        if abs(diff) < 1e-12:
            return "[dim]0[/]"
        colour = "green" if better(new, old, direction) else "red"
        return f"[{colour}]{format_change(diff)}[/]"
    return "" if old is None else ("[dim]=[/]" if new == old else "changed")


def metrics_table(
    metrics: dict[str, Any],
    baselines: list[tuple[str, dict[str, Any]]],
    primary: str,
    directions: dict[str, str] | None = None,
) -> Table:
    """The metrics, then for each baseline that has metrics its values and the change
    (coloured by each metric's direction: `directions`, maximize when not given)."""
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
        if (directions or {}).get(key) == "minimize":
            label += " [dim](lower is better)[/]"
        row = [label, fmt(metrics.get(key))]
        for _, values in baselines:
            direction = (directions or {}).get(key, "maximize")
            row += [fmt(values.get(key)), delta(metrics.get(key), values.get(key), direction)]
        table.add_row(*row)
    return table


def render_gates(gates: list[GateResult], title: str) -> None:
    from rich.table import Table

    from mlopsctl.console import console

    table = Table(title=f"Gates: {title}", title_justify="left")
    for column in ("gate", "expected", "actual", "result"):
        table.add_column(column, overflow="fold")
    for gate in gates:
        mark = "[green]pass[/]" if gate.passed else "[bold red]FAIL[/]"
        table.add_row(gate.gate, gate.expected, gate.actual, mark)
    console().print(table)


def plain(value: Any) -> Any:
    """What --json prints of a result: a dataclass as its `to_dict()` (when it has one) or its
    fields, recursively; paths and other objects as strings (render.print_json's convention)."""
    import dataclasses

    if hasattr(value, "to_dict"):
        return plain(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def print_json(value: Any) -> None:
    """The one way a command prints --json: one document on stdout (see `plain`)."""
    import json

    from mlopsctl.console import console

    console().print_json(json.dumps(plain(value)))


def plan_json(plan: DataPlan) -> dict[str, Any]:
    """What `init --data` and `data use` decided, for --json."""
    return {
        "task": plan.task,
        "task_reason": plan.task_reason,
        "target": plan.target,
        "rows": plan.rows,
        "rows_without_target": plan.missing_target,
        "read_as": plan.read_as or None,
        "classes": plan.classes,
        "positive_class": plan.positive_class,
        "features": plan.features,
        "columns": [
            {"column": d.column, "kind": d.kind, "reason": d.reason} for d in plan.decisions
        ],
        "primary_metric": plan.primary_metric,
        "direction": plan.direction,
        "baseline": {"model": plan.baseline_model, "value": plan.baseline},
        "gates": {"thresholds": [plan.threshold_rule], "champion": [plan.champion_rule]},
    }


def render_plan(plan: DataPlan, config_file: str) -> None:
    """Every decision about the user's data, one line each, and where to change it."""
    from rich.markup import escape

    from mlopsctl.console import console

    out = console()
    if plan.read_as:
        out.print(f"  read as: {plan.read_as} (told from the file's first lines)", soft_wrap=True)
    out.print(f"  task: {escape(plan.task_reason)}", soft_wrap=True)
    if plan.missing_target:
        out.print(
            f"  {plan.missing_target} of {plan.rows} rows have no {escape(plan.target)!r}: "
            "left out of training and evaluation",
            soft_wrap=True,
        )
    if plan.task == "binary":
        out.print(f"  positive class: {escape(repr(plan.positive_class))}", soft_wrap=True)
    out.print("  columns:")
    for d in plan.decisions[1:]:
        mark = "[green]+[/]" if d.used else "[yellow]-[/]"
        out.print(f"    {mark} {escape(d.column)}: {escape(d.reason)}", soft_wrap=True)
    out.print(
        f"  gate: {escape(plan.threshold_rule)} ({escape(plan.baseline_model)}: "
        f"{plan.primary_metric} {plan.baseline:.4g}) in pyproject.toml \\[tool.mlopsctl.promotion]",
        soft_wrap=True,
    )
    out.print(f"  change any decision in {config_file} (each has a comment)", soft_wrap=True)


def render_push(result: PushResult, as_json: bool) -> None:
    from mlopsctl.console import console

    if as_json:
        print_json(result)
        return
    out = console()
    out.print(f"[green]Pushed[/] {result.ref}@{result.digest}", soft_wrap=True)
    out.print(
        f"  {len(result.sent)} blobs sent ({result.bytes_sent / 1e6:.1f} MB), "
        f"{len(result.skipped)} already there",
        soft_wrap=True,
    )


def render_deploy(result: DeployResult, as_json: bool) -> None:
    from mlopsctl.console import console

    if as_json:
        print_json(result)
        return
    out = console()
    if result.commit is None:
        out.print(f"{result.stage} already deploys {result.version} {result.image}", soft_wrap=True)
        return
    out.print(
        f"[green]Deployed[/] {result.version} to {result.stage}: {result.image} "
        f"(commit {result.commit[:8]})",
        soft_wrap=True,
    )
    if result.pushed_to:
        out.print(f"  pushed to {result.pushed_to}")
