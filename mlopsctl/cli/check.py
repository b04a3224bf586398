"""`mlopsctl check NAME`: the checks behind the pre-commit hooks (.pre-commit-hooks.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mlopsctl.core.hooks import CheckResult

app = typer.Typer(
    name="check",
    help="Checks that guard a project; pre-commit runs them (see docs/hooks.md).",
    no_args_is_help=True,
)

FILES_HELP = "Files to check (default: the files staged in git)."


def _report(result: CheckResult) -> None:
    """Print what the check found; a finding is a failed check (exit 1)."""
    from rich.markup import escape

    from mlopsctl.console import err_console
    from mlopsctl.errors import CheckFailed

    err = err_console()
    for note in result.notes:
        err.print(f"[dim]{result.name}:[/] {escape(note)}", soft_wrap=True)
    for finding in result.findings:
        detail = f"\n    {escape(finding.detail)}" if finding.detail else ""
        err.print(f"  {escape(finding.what)}{detail}", soft_wrap=True)
    if not result.passed:
        count = len(result.findings)
        raise CheckFailed(f"{result.name}: {count} problem{'s' if count != 1 else ''}", result.hint)


@app.command("no-untracked-data")
def no_untracked_data(
    files: list[str] = typer.Argument(None, help=FILES_HELP, show_default=False),
    max_kb: int = typer.Option(500, "--max-kb", help="Any file above this size counts as data."),
) -> None:
    """Refuse data or model files (by extension or size) that DVC does not track."""
    from mlopsctl.core import hooks as checks

    _report(checks.no_untracked_data(checks.repository(Path.cwd()), files or (), max_kb))


@app.command("config-composes")
def config_composes(
    files: list[str] = typer.Argument(None, hidden=True),
    fix: bool = typer.Option(False, "--fix", help="Rewrite a stale params.yaml from conf/."),
) -> None:
    """Every config group option composes with Hydra; params.yaml is the default config."""
    from mlopsctl.core import hooks as checks

    _report(checks.config_composes(checks.repository(Path.cwd()), fix=fix))


@app.command("pipeline-fresh")
def pipeline_fresh(files: list[str] = typer.Argument(None, hidden=True)) -> None:
    """dvc.lock is in sync with the code, params and data its stages depend on."""
    from mlopsctl.core import hooks as checks

    _report(checks.pipeline_fresh(checks.repository(Path.cwd())))


@app.command("data-valid")
def data_valid(
    files: list[str] = typer.Argument(None, help=FILES_HELP, show_default=False),
) -> None:
    """Staged data that has a schema in data/schemas/ validates against it."""
    from mlopsctl.core import hooks as checks

    _report(checks.data_valid(checks.repository(Path.cwd()), files or ()))


@app.command("deploy-current")
def deploy_current(files: list[str] = typer.Argument(None, hidden=True)) -> None:
    """Each stage's overlay in deploy/serving pins its registry holder's image digest."""
    from mlopsctl.core import hooks as checks
    from mlopsctl.core.registry.queries import registry_root

    _report(checks.deploy_current(registry_root(Path.cwd())))
