"""The CLI's own surface: version, help, and start-up that stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

from mlopsctl import __version__
from tests.conftest import mlopsctl


def test_version(tmp_path: Path) -> None:
    proc = mlopsctl("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"mlopsctl {__version__}"


def test_help_lists_init(tmp_path: Path) -> None:
    proc = mlopsctl("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "init" in proc.stdout


def test_help_does_not_import_the_heavy_stack() -> None:
    probe = (
        "import sys; from mlopsctl.cli.main import app; "
        "heavy = ['dvc', 'pandas', 'sklearn', 'copier', 'hydra', 'git', 'numpy', 'yaml']; "
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    proc = mlopsctl("nope", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    proc = mlopsctl("--debug", "init", "x", "--name", "Bad Name", "--no-input", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "BadInput" in proc.stderr


def test_the_help_lines_are_the_commands_own_help() -> None:
    """`mlopsctl --help` shows COMMANDS' lines without building the commands: each line is
    the first paragraph of the real command's help, and each command runs from its table
    entry."""
    from mlopsctl.cli.main import COMMANDS, load_command

    for name, (_, _, line) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        first = " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())
        assert first == line, name


def test_help_imports_no_command_module() -> None:
    probe = (
        "import sys; from mlopsctl.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith('mlopsctl.cli.')), "
        "file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "Commands" in proc.stdout
    assert proc.stderr.split() == ["mlopsctl.cli.main"]
