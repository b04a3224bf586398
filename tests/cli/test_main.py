"""The CLI's own surface: version, help, and start-up that stays light."""

from __future__ import annotations

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
