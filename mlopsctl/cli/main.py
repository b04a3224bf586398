"""Entry point: the Typer app, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from mlopsctl import __version__

# Every command: its name, where it lives (module in mlopsctl/cli, attribute: a command
# function or a Typer app of subcommands) and the line `mlopsctl --help` shows for it (a
# test checks it against the command's own help). Help lists these without importing a
# command module; only the command that runs is imported and built.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "init",
        "init",
        "Scaffold a project: git + DVC + Hydra + pipeline + tests + pre-commit + CI.",
    ),
    "update": (
        "update",
        "update",
        "Take a newer template into this project, keeping your changes (copier's update).",
    ),
    "train": (
        "train",
        "train",
        "Compose conf/ with OVERRIDES into params.yaml and run prepare -> train -> evaluate.",
    ),
    "evaluate": (
        "train",
        "evaluate",
        "Run what evaluation needs (or nothing, when up to date) and show the metrics.",
    ),
    "report": (
        "report",
        "report",
        "Write a Markdown report (for CI) and an offline HTML page: metrics, params, plots.",
    ),
    "promote": (
        "promote",
        "promote",
        "Run the quality gates, then register the version (if new) and assign the stage.",
    ),
    "rollback": (
        "promote",
        "rollback",
        "Put the stage's previous holder back (a new assignment tag; history is kept).",
    ),
    "deploy": (
        "deploy",
        "deploy",
        "Pin the stage's overlay to the image of the version holding the stage, in one commit.",
    ),
    "reproduce": (
        "reproduce",
        "reproduce",
        "Rebuild a registered model from scratch in a temporary worktree and compare it.",
    ),
    "serve": (
        "serve",
        "serve",
        "Serve a model over HTTP (Open Inference Protocol V2, V1 :predict, /metrics).",
    ),
    "build": (
        "build",
        "build",
        "Build a container image that serves the model (reproducible: one digest per input).",
    ),
    "push": (
        "push",
        "push",
        "Push a built image tar to REGISTRY/REPO[:TAG] (blobs the registry has are not sent).",
    ),
    "retrain": (
        "retrain",
        "retrain",
        "New data in, validated, trained, committed and promoted — all or nothing (cron, CI).",
    ),
    "exp": ("exp", "app", "Experiments: list, compare, apply, clean up."),
    "data": (
        "data",
        "app",
        "Version data with DVC, infer and check schemas (pandera), profile datasets.",
    ),
    "check": (
        "check",
        "app",
        "Checks that guard a project; pre-commit runs them (see docs/hooks.md).",
    ),
    "registry": ("registry", "registry_app", "Read the model registry (GTO-format git tags)."),
    "monitor": (
        "monitor",
        "app",
        "Watch the model's data: drift between live data and the training data.",
    ),
    "export": (
        "export",
        "app",
        "Export the pipeline for a cluster (Tekton, Kubeflow Pipelines) and check it offline.",
    ),
}


def load_command(name: str) -> Any:
    """The real (Click) command `name`: its module imported, its parameters built."""
    import importlib

    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(f"mlopsctl.cli.{module}"), attribute)
    # built as the one subcommand of a bare group, as app.command()/add_typer() would build it
    holder = typer.Typer(add_completion=False)
    holder.callback()(lambda: None)
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]


class LazyGroup(TyperGroup):
    """The top-level group: help and suggestions from COMMANDS, the real command built only
    when it is the one to run (or complete)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = {
            name: TyperCommand(name, help=line) for name, (_, _, line) in COMMANDS.items()
        }
        self._loaded: dict[str, Any] = {}
        self._resolving = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if not self._resolving or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = load_command(cmd_name)
        return self._loaded[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        self._resolving = True
        try:
            return super().resolve_command(ctx, args)
        finally:
            self._resolving = False


app = typer.Typer(
    name="mlopsctl",
    cls=LazyGroup,
    help="Reproducible ML projects: scaffold, train, promote, build and serve — from git.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
