"""Entry point: the Typer app, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

from mlopsctl import __version__
from mlopsctl.cli import build as build_cmd
from mlopsctl.cli import check as check_cmd
from mlopsctl.cli import data as data_cmd
from mlopsctl.cli import deploy as deploy_cmd
from mlopsctl.cli import exp as exp_cmd
from mlopsctl.cli import export as export_cmd
from mlopsctl.cli import init as init_cmd
from mlopsctl.cli import monitor as monitor_cmd
from mlopsctl.cli import promote as promote_cmd
from mlopsctl.cli import push as push_cmd
from mlopsctl.cli import report as report_cmd
from mlopsctl.cli import reproduce as reproduce_cmd
from mlopsctl.cli import retrain as retrain_cmd
from mlopsctl.cli import serve as serve_cmd
from mlopsctl.cli import train as train_cmd
from mlopsctl.cli import update as update_cmd
from mlopsctl.cli.registry import registry_app

app = typer.Typer(
    name="mlopsctl",
    help="Reproducible ML projects: scaffold, train, promote, build and serve — from git.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("init")(init_cmd.init)
app.command("update")(update_cmd.update)
app.command("train")(train_cmd.train)
app.command("evaluate")(train_cmd.evaluate)
app.add_typer(exp_cmd.app, name="exp")
app.command("report")(report_cmd.report)
app.add_typer(data_cmd.app)
app.add_typer(check_cmd.app)
app.command("promote")(promote_cmd.promote)
app.command("rollback")(promote_cmd.rollback)
app.command("deploy")(deploy_cmd.deploy)
app.command("reproduce")(reproduce_cmd.reproduce)
app.add_typer(registry_app, name="registry")
app.command("serve")(serve_cmd.serve)
app.command("build")(build_cmd.build)
app.command("push")(push_cmd.push)
app.add_typer(monitor_cmd.app)
app.command("retrain")(retrain_cmd.retrain)
app.add_typer(export_cmd.app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlopsctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show full tracebacks for errors (also MLOPSCTL_DEBUG=1)."
    ),
) -> None:
    if debug:
        os.environ["MLOPSCTL_DEBUG"] = "1"


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MLOPSCTL_DEBUG", "") not in ("", "0")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and turn every outcome into an exit code (see mlopsctl.errors)."""
    from mlopsctl import errors
    from mlopsctl.console import print_error

    args = sys.argv[1:] if argv is None else argv
    debug = _debug_requested(args)
    try:
        code = app(args=args, prog_name="mlopsctl", standalone_mode=False)
    except errors.MlopsctlError as exc:
        if debug:
            raise
        print_error(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        if debug:
            raise
        print_error("interrupted")
        sys.exit(errors.EXIT_INTERRUPTED)
    except Exception as exc:
        # usage errors from the (possibly vendored) click: they know how to show themselves
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        known = errors.expected_error(exc)
        if known is not None:
            print_error(known.message, known.hint)
            sys.exit(known.exit_code)
        print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in mlopsctl: rerun with --debug and report the traceback",
        )
        sys.exit(errors.EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)
