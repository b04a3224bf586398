"""`mlopsctl --help` wall time as a ratio to a bare Typer hello-world, measured in one run,
the commands interleaved.

Goal (issue 2): ratio <= 1.1. Prints JSON. Usage: python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _timing import interleaved_medians, median_wall

HELLO = """
import typer

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")


@app.command()
def bye() -> None:
    print("bye")


if __name__ == "__main__":
    app()
"""


def same_shape_app() -> str:
    """A bare Typer app with mlopsctl's top-level commands and help texts and nothing else:
    the help screen costs the same to draw, so the ratio isolates mlopsctl's own overhead."""
    import typer

    from mlopsctl.cli.main import app

    group = typer.main.get_command(app)
    lines = ["import typer", "", "app = typer.Typer(no_args_is_help=True)", ""]
    for i, (name, cmd) in enumerate(sorted(group.commands.items())):  # type: ignore[attr-defined]
        doc = (cmd.help or "").splitlines()[0] if cmd.help else ""
        lines += [f"@app.command({name!r})", f"def c{i}() -> None:", f"    {doc!r}", ""]
    lines += ["", "app()"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO)
        same = Path(tmp) / "same_shape.py"
        same.write_text(same_shape_app())
        commands = {
            "typer_hello_world": [sys.executable, str(hello), "--help"],
            "typer_same_commands": [sys.executable, str(same), "--help"],
            "mlopsctl": [shutil.which("mlopsctl") or "mlopsctl", "--help"],
            "dvc": [sys.executable, "-m", "dvc", "--help"],
        }
        # as installed for a user: bytecode caches written (pip compiles wheels; a shell with
        # PYTHONDONTWRITEBYTECODE=1 would recompile mlopsctl on every start, ~9 ms)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        # warm-up for everyone, so caches are equally warm
        for cmd in commands.values():
            median_wall(cmd, 2, env=env)
        # interleaved (A B C D, A B C D, ...): the machine's drift is shared by all
        times = interleaved_medians(commands, args.runs, env=env)
    base = times["typer_hello_world"]
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "runs": args.runs,
                "median_seconds": {k: round(v, 4) for k, v in times.items()},
                "ratio_to_typer_hello_world": {k: round(v / base, 3) for k, v in times.items()},
                "mlopsctl_ratio_to_same_commands": round(
                    times["mlopsctl"] / times["typer_same_commands"], 3
                ),
                "goal": {"mlopsctl": "<= 1.1"},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
