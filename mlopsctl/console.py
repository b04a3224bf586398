"""The one place that talks to the terminal.

rich honours NO_COLOR and TERM=dumb by itself; output that is not a TTY gets no
colour and no live progress.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class _Stream:
    """sys.stdout (or stderr) as it is at each write, without colorama's wrapper: `import
    dvc` runs colorama.init(), whose wrapper strips ANSI codes from a stream that is not a
    terminal, so FORCE_COLOR=1 (CI logs that show colour) would get none."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _target(self) -> Any:
        stream = getattr(sys, self.name)
        return getattr(stream, "_StreamWrapper__wrapped", stream)

    def write(self, text: str) -> int:
        return int(self._target().write(text) or 0)

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return bool(self._target().isatty())

    def fileno(self) -> int:
        return int(self._target().fileno())

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._target(), attr)


def _width() -> int | None:
    """Not a terminal (CI logs, pipes): tables get room instead of rich's 80 columns."""
    import os
    import sys

    if sys.stdout.isatty():
        return None
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 120


@cache
def console() -> Console:
    from rich.console import Console

    return Console(file=_Stream("stdout"), highlight=False, width=_width())


@cache
def err_console() -> Console:
    from rich.console import Console

    return Console(file=_Stream("stderr"), stderr=True, highlight=False)


def print_error(message: str, hint: str | None = None) -> None:
    from rich.markup import escape

    err = err_console()
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"[dim]hint:[/] {escape(hint)}", soft_wrap=True)
