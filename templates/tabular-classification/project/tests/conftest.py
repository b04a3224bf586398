import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _run_from_project_root():
    """The stages read params.yaml and data paths relative to the project root, as DVC runs them."""
    before = Path.cwd()
    os.chdir(ROOT)
    yield
    os.chdir(before)
