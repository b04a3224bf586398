"""`mlopsctl exp list/compare/apply/gc`: parse, call core.experiments, render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json

app = typer.Typer(help="Experiments: list, compare, apply, clean up.", no_args_is_help=True)


@app.command("list")
def list_(
    all_commits: bool = typer.Option(False, "--all-commits", "-A", help="Every commit's."),
    as_json: options.Json = False,
) -> None:
    """The workspace, its baseline and their experiments, with metrics and changed params."""

    from rich.table import Table

    from mlopsctl.cli.render import fmt
    from mlopsctl.console import console
    from mlopsctl.core.pipeline.experiments import best, list_experiments
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    found = list_experiments(project, all_commits=all_commits)
    metric, direction = project.primary_metric(), project.metric_direction()
    top = best([e for e in found if e.kind != "workspace"], metric, direction)
    if as_json:
        print_json([{**e.as_json(), "best": e is top} for e in found])
        return
    metric_keys = sorted({k for e in found for k in e.metrics}, key=lambda k: (k != metric, k))
    baselines = {e.name: e for e in found if e.kind == "baseline"}
    order = "lowest" if direction == "minimize" else "highest"
    title = f"Experiments (best: {order} {metric})"
    table = Table(title=title, title_justify="left")
    table.add_column("experiment", overflow="fold")
    table.add_column("created")
    for key in metric_keys:
        table.add_column(key, justify="right")
    table.add_column("params changed vs baseline", overflow="fold")
    for exp in found:
        name = exp.name if exp.state == "success" else f"{exp.name} ({exp.state})"
        if exp is top:
            name = f"[bold green]{name}[/] (best)"
        base = baselines.get(exp.baseline)
        changed = _changed_params(exp.params, base.params) if base and base is not exp else ""
        table.add_row(
            name,
            (exp.created or "").replace("T", " ")[5:16],
            *[fmt(exp.metrics.get(k)) for k in metric_keys],
            changed,
        )
    console().print(table)


@app.command("compare")
def compare(
    a: str = typer.Argument(..., help="Experiment name, rev, 'workspace' or git revision."),
    b: str = typer.Argument(..., help="Experiment name, rev, 'workspace' or git revision."),
    all_rows: bool = typer.Option(False, "--all", help="Also show unchanged params."),
    as_json: options.Json = False,
) -> None:
    """Params and metrics of A and B side by side; changed values highlighted."""

    from rich.table import Table

    from mlopsctl.cli.render import delta, fmt, fmt_param
    from mlopsctl.console import console
    from mlopsctl.core.pipeline.experiments import compare as compare_core
    from mlopsctl.core.pipeline.metrics import better
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    result = compare_core(project, a, b)
    directions = project.metric_directions(k for s, k, *_ in result.rows if s == "metric")
    if as_json:
        print_json(
            {
                "a": {"name": result.a.name, "rev": result.a.rev},
                "b": {"name": result.b.name, "rev": result.b.rev},
                "rows": [
                    {"section": s, "key": k, "a": x, "b": y, "changed": c}
                    | (
                        {"direction": directions[k], "b_better": better(y, x, directions[k])}
                        if s == "metric"
                        else {}
                    )
                    for s, k, x, y, c in result.rows
                ],
            }
        )
        return
    table = Table(title=f"{result.a.name} vs {result.b.name}", title_justify="left")
    for column in ("", "key", result.a.name, result.b.name, "change"):
        table.add_column(column, overflow="fold")
    for section, key, x, y, changed in result.rows:
        if section == "param" and not changed and not all_rows:
            continue
        style = "bold yellow" if changed else ""
        direction = directions.get(key, "maximize")
        change = delta(y, x, direction) if changed and x is not None and y is not None else ""
        if changed and not change:
            change = "added" if x is None else "removed" if y is None else "changed"
        show = fmt if section == "metric" else fmt_param
        table.add_row(section, key, show(x), show(y), change, style=style)
    console().print(table)
    if not result.changed:
        console().print("no differences")
    metric, direction = project.primary_metric(), project.metric_direction()
    b_better = better(result.b.metrics.get(metric), result.a.metrics.get(metric), direction)
    if b_better is not None:
        winner = result.b.name if b_better else result.a.name
        order = "lower" if direction == "minimize" else "higher"
        console().print(f"better {metric} ({order} is better): {winner}")


@app.command("apply")
def apply(name: str = typer.Argument(..., help="Experiment to bring into the workspace.")) -> None:
    """Bring an experiment's params and results into the workspace (`dvc exp apply`)."""
    from mlopsctl.console import console
    from mlopsctl.core.pipeline.experiments import apply as apply_core
    from mlopsctl.core.project import find_project

    result = apply_core(find_project(Path.cwd()), name)
    out = console()
    out.print(f"applied {name}: its params, model and metrics are in the workspace", soft_wrap=True)
    if result.conf_changes is None:
        out.print(
            "conf/ could not be edited to compose to its params: the next `mlopsctl train` "
            "would recompose params.yaml from conf/ and drop them. Keep them by running "
            f"`mlopsctl train {' '.join(result.overrides)}`, or set them in conf/ by hand",
            soft_wrap=True,
            highlight=False,
        )
        return
    for change in result.conf_changes:
        out.print(f"  {change}", soft_wrap=True, highlight=False)
    out.print(
        "conf/ now composes to its params (`git diff conf/`): the next `mlopsctl train` keeps "
        "them; commit conf/, params.yaml and dvc.lock together",
        soft_wrap=True,
    )


@app.command("gc")
def gc(
    keep: int = typer.Option(5, "--keep", min=0, help="How many of the best to keep."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove them (default: only show)."),
    as_json: options.Json = False,
) -> None:
    """Drop experiments not worth keeping: all but the --keep best by the primary metric
    (in its direction: lowest first for rmse), and every failed one. The best is always
    kept. A dry run unless --yes."""

    from mlopsctl.console import console
    from mlopsctl.core.pipeline.experiments import plan_gc, remove
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    plan = plan_gc(project, keep)
    if yes:
        remove(project, plan.remove)
    if as_json:
        print_json(_plan_json(plan, removed=yes))
        return
    out = console()
    verb = "removed" if yes else "would remove"
    for exp in plan.remove:
        out.print(f"{verb} {exp.name} ({plan.metric}={_metric(exp, plan.metric)}, {exp.state})")
    for exp in plan.keep:
        out.print(f"[dim]keep {exp.name} ({plan.metric}={_metric(exp, plan.metric)})[/]")
    if not plan.remove:
        out.print("nothing to remove")
    elif not yes:
        out.print("dry run: pass --yes to remove them")


def _changed_params(params: dict[str, Any], baseline: dict[str, Any]) -> str:
    from mlopsctl.cli.render import fmt_param

    parts = []
    for key in sorted(params):  # keys the experiment lost with a group switch say nothing
        if params.get(key) != baseline.get(key):
            value = params.get(key)
            if key.endswith("._target_") and isinstance(value, str):
                key, value = key[: -len("._target_")], value.rpartition(".")[2]
            parts.append(f"{key}={fmt_param(value)}")
    return " ".join(parts)


def _metric(exp: Any, metric: str) -> str:
    from mlopsctl.cli.render import fmt

    return fmt(exp.metrics.get(metric))


def _plan_json(plan: Any, removed: bool) -> dict[str, Any]:
    return {
        "metric": plan.metric,
        "direction": plan.direction,
        "removed": removed,
        "remove": [e.name for e in plan.remove],
        "keep": [e.name for e in plan.keep],
    }
