"""Is this machine able to run a generated project? Checked before anything is written."""

from __future__ import annotations

import shutil

from mlopsctl.core import proc
from mlopsctl.errors import EnvironmentProblem

# what the generated project's stages and tests import, by import name
PROJECT_MODULES = ("pandas", "sklearn", "yaml", "matplotlib", "hydra", "dvc", "pandera", "mlopsctl")


def require_project_python(modules: tuple[str, ...] = PROJECT_MODULES) -> str:
    """The `python` on PATH runs the project's stages (DVC runs `python -m ...`): it must
    import what they need. Checked with find_spec, so nothing heavy is imported."""
    python = shutil.which("python") or shutil.which("python3")
    if python is None:
        raise EnvironmentProblem(
            "no `python` on PATH: DVC runs the pipeline stages with it",
            "activate the virtual environment where mlopsctl is installed",
        )
    probe = (
        "import importlib.util, sys\n"
        f"missing = [m for m in {list(modules)!r} if importlib.util.find_spec(m) is None]\n"
        "print(' '.join(missing))\n"
    )
    probed = proc.run([python, "-c", probe])
    if not probed.ok:
        raise EnvironmentProblem(
            f"`{python}` does not run: {probed.tail()}",
            "activate a working Python environment (python -m venv .venv && . .venv/bin/activate)",
        )
    missing = probed.stdout.split()
    if missing:
        raise EnvironmentProblem(
            f"`{python}` cannot import {', '.join(missing)}, which the project's stages need",
            "activate the environment where mlopsctl is installed, "
            "or `pip install dvc hydra-core scikit-learn pandas matplotlib pyyaml pandera` "
            "and mlopsctl itself",
        )
    return python
