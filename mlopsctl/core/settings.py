"""A project's mlopsctl settings: the `[tool.mlopsctl.<name>]` tables of its pyproject.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlopsctl.errors import BadInput

SETTINGS_FILE = "pyproject.toml"


def tool_table(root: Path, name: str) -> dict[str, Any]:
    """`[tool.mlopsctl.<name>]` of `root`/pyproject.toml; {} when the file or table is absent."""
    import tomllib

    path = root / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        loaded = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path} is not valid TOML: {exc}", "fix the file") from exc
    table = loaded.get("tool", {}).get("mlopsctl", {}).get(name, {})
    if not isinstance(table, dict):
        raise BadInput(f"[tool.mlopsctl.{name}] in {path} is not a table", "fix the file")
    return table
