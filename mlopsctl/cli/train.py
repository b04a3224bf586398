"""`mlopsctl train` and `mlopsctl evaluate`: parse, call core.pipeline, render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlopsctl.cli import options
from mlopsctl.cli.render import print_json


def train(
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides: model=random_forest model.n_estimators=300", show_default=False
    ),
    name: str = typer.Option(None, "--name", "-n", help="Name the experiment."),
    queue: bool = typer.Option(
        False, "--queue", help="Sweep: expand a,b,c values, queue every combination, run them."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Experiments run at once (--queue)."),
    no_exp: bool = typer.Option(
        False, "--no-exp", help="Run `dvc repro` in the workspace instead of an experiment."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Run every stage even if unchanged."),
    verbose: options.Verbose = False,
    as_json: options.Json = False,
) -> None:
    """Compose conf/ with OVERRIDES into params.yaml and run prepare -> train -> evaluate."""
    from mlopsctl.cli.render import StageProgress
    from mlopsctl.core.pipeline import run as pipeline
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    progress = StageProgress(verbose=verbose)
    if queue:
        from mlopsctl.core.pipeline.sweep import sweep

        result = sweep(project, overrides or [], name=name, jobs=jobs, on_event=progress)
        _show_sweep(result, as_json)
        return
    with _stage_output_on_failure():
        run = pipeline.train(
            project,
            overrides or [],
            name=name,
            experiment=not no_exp,
            force=force,
            on_event=progress,
        )
    _show_run(project, run, as_json)


def evaluate(
    rev: str = typer.Option(
        None, "--rev", help="Compare with this git revision or experiment (default: HEAD)."
    ),
    verbose: options.Verbose = False,
    as_json: options.Json = False,
) -> None:
    """Run what evaluation needs (or nothing, when up to date) and show the metrics."""
    from mlopsctl.cli.render import StageProgress
    from mlopsctl.core.pipeline import run as pipeline
    from mlopsctl.core.project import find_project

    project = find_project(Path.cwd())
    with _stage_output_on_failure():
        run = pipeline.evaluate(project, rev=rev, on_event=StageProgress(verbose=verbose))
    plots = [str(p.relative_to(project.root)) for p in pipeline.plot_paths(project)]
    _show_run(project, run, as_json, plots=plots)


class _stage_output_on_failure:
    """A failed stage: show what it printed (the last lines) before the one-line error."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from mlopsctl.core.pipeline.run import StageFailed

        if isinstance(exc, StageFailed):
            from rich.markup import escape

            from mlopsctl.console import err_console

            for line in exc.output[-40:]:
                err_console().print(f"[dim]|[/] {escape(line)}", soft_wrap=True)


def _show_run(project: Any, run: Any, as_json: bool, plots: list[str] | None = None) -> None:

    from mlopsctl.cli.render import metrics_table
    from mlopsctl.console import console
    from mlopsctl.core.registry.queries import deployed_model

    # the registry's last stage (production by default), when a version holds it
    deployed = deployed_model(project)

    if as_json:
        payload = {
            "up_to_date": run.up_to_date,
            "params_changed": run.params_changed,
            "experiment": run.experiment,
            "stages": [
                {"stage": s.stage, "status": s.status, "seconds": s.seconds} for s in run.stages
            ],
            "metrics": run.metrics,
            "baseline": {"rev": run.baseline, "metrics": run.baseline_metrics},
            "deployed": ({"ref": deployed[0], "metrics": deployed[1]} if deployed else None),
            "primary_metric": run.primary_metric,
            "direction": run.directions.get(run.primary_metric),
        }
        if plots is not None:
            payload["plots"] = plots
        print_json(payload)
        return
    out = console()
    if run.up_to_date:
        out.print("[green]up to date[/]: params.yaml matches conf/ and no stage changed")
    elif run.experiment:
        out.print(f"experiment [bold]{run.experiment}[/] finished")
    if run.metrics:
        baselines = [(run.baseline, run.baseline_metrics)]
        if deployed:
            baselines.append(deployed)
        deployed_keys = deployed[1] if deployed else {}
        directions = {**project.metric_directions(deployed_keys), **run.directions}
        out.print(metrics_table(run.metrics, baselines, run.primary_metric, directions))
    else:
        out.print("no metrics yet")
    if plots:
        out.print("plots: " + ", ".join(plots), soft_wrap=True)


def _show_sweep(result: Any, as_json: bool) -> None:

    from rich.table import Table

    from mlopsctl.cli.render import fmt
    from mlopsctl.console import console
    from mlopsctl.errors import CheckFailed

    if as_json:
        print_json(
            {
                "primary_metric": result.primary_metric,
                "direction": result.direction,
                "experiments": [
                    {**e.as_json(), "overrides": result.overrides[e.name]}
                    for e in result.experiments
                ],
                "failed": result.failed,
            }
        )
    else:
        metric = result.primary_metric
        order = "lowest" if result.direction == "minimize" else "highest"
        title = f"Sweep, best {metric} first ({order}: {result.direction})"
        table = Table(title=title, title_justify="left")
        for column in ("experiment", "overrides", metric):
            table.add_column(column, justify="right" if column == metric else "left")
        for exp in result.experiments:
            table.add_row(
                exp.name, " ".join(result.overrides[exp.name]), fmt(exp.metrics.get(metric))
            )
        for name in result.failed:
            table.add_row(f"[red]{name}[/]", " ".join(result.overrides[name]), "[red]failed[/]")
        console().print(table)
        if result.experiments:
            console().print(f"apply the best: mlopsctl exp apply {result.experiments[0].name}")
    if result.failed:
        raise CheckFailed(
            f"{len(result.failed)} of {len(result.overrides)} experiments failed",
            "see `dvc queue logs NAME` for a failed experiment's output",
        )
