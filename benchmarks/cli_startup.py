"""`mlopsctl --help` wall time as a ratio to a bare Typer hello-world, measured in one run.

Goal (issue 2): ratio <= 1.1. Prints JSON. Usage: python benchmarks/cli_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from _timing import median_wall

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hello = Path(tmp) / "hello.py"
        hello.write_text(HELLO)
        commands = {
            "typer_hello_world": [sys.executable, str(hello), "--help"],
            "mlopsctl": [shutil.which("mlopsctl") or "mlopsctl", "--help"],
            "dvc": [sys.executable, "-m", "dvc", "--help"],
        }
        # interleave warm-up so caches are equally warm for everyone
        for cmd in commands.values():
            median_wall(cmd, 2)
        times = {name: median_wall(cmd, args.runs) for name, cmd in commands.items()}
    base = times["typer_hello_world"]
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "runs": args.runs,
                "median_seconds": {k: round(v, 4) for k, v in times.items()},
                "ratio_to_typer_hello_world": {k: round(v / base, 3) for k, v in times.items()},
                "goal": {"mlopsctl": "<= 1.1"},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
